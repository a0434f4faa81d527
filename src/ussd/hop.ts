/**
 * One USSD hop, from normalised turn to the gateway's answer, inside the response budget:
 *
 * 1. lock the session row (hops of one session run one at a time; the wait is bounded)
 *    and decide which hop this is: a sequenced gateway says so; otherwise the same input
 *    within a second of the last answer is a replay of it;
 * 2. record the hop under its de-duplication key — a replay finds it recorded and gets the
 *    first answer back, identically — then run the flow (with the client's unread replies
 *    from the Front USSD channel), hand a typed message to the channel as soon as it is
 *    typed (so no hang-up, timeout or late answer loses it), save the session, and store
 *    the answer, all in one transaction;
 * 3. answer — or, past the budget, answer an END screen saying the message was received
 *    and replies come by SMS, and let the work finish in the background;
 * 4. after answering: latency, and replies marked read (only once the client was shown them).
 */
import { sql, type Kysely } from 'kysely';
import type { Database, ServiceIntegration } from '../db/schema.ts';
import { messageForLog } from '../engine/errors.ts';
import { ingestRows, type Engine } from '../engine/ingest.ts';
import type { RowInput } from '../engine/replicator.ts';
import { channelOf, markRead, unreadReplies } from '../replicators/front-ussd-channel-app-v1.ts';
import { ussdHopDuration } from '../metrics.ts';
import { continueFlow, startFlow, type Flow, type FlowSession } from './flow/engine.ts';
import { hashIdentifier, hashKeyOf, lockSession, saveSession, sessionIdFor, type Boundary } from './sessions.ts';
import type { GatewayAdapter, GatewayHttpResponse, UssdTurn } from './types.ts';

export interface UssdSettings {
  flow: Flow;
  flowName: string;
  pageBudget: number;
  budgetMs: number;
  identifier: 'session' | 'msisdn';
  boundaries: readonly Boundary[];
}

export const FALLBACK_TEXT = 'Thank you, your message was received. Replies will come by SMS.';
/** Session data key holding the external id of the message this session handed to the channel. */
const SUBMITTED = '$submitted';

type TurnResult =
  | { replay: true; dedupeKey: string }
  | { replay: false; pk: number; response: GatewayHttpResponse; readIds: string[]; channel: ServiceIntegration | null };

export interface HopInput {
  engine: Engine;
  integration: ServiceIntegration;
  adapter: GatewayAdapter;
  settings: UssdSettings;
  turn: UssdTurn;
  rawBody: string;
  /** Where the gateway called us (the url boundary). */
  url: string;
  /** When the request arrived (performance.now()): the budget counts from there. */
  arrivedAt: number;
}

export async function handleHop(input: HopInput): Promise<GatewayHttpResponse> {
  const { engine, integration, adapter, settings, turn } = input;
  const deadline = input.arrivedAt + settings.budgetMs;
  const fallback = () => adapter.render({ text: FALLBACK_TEXT, end: true }, turn);
  const work = engine.db.transaction().execute((trx) => runTurn(trx, input));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), Math.max(0, deadline - performance.now()));
  });
  const result = await Promise.race([work, late]).catch((error: unknown) => {
    engine.log.error({ err: messageForLog(error), integration_id: integration.id }, 'USSD hop failed');
    return 'failed' as const;
  });
  clearTimeout(timer);

  if (result === 'late' || result === 'failed') {
    if (result === 'late') engine.log.warn({ integration_id: integration.id, gateway: turn.gateway }, 'USSD hop over budget: answered END, finishing in the background');
    const answer = fallback();
    ussdHopDuration.observe({ gateway: turn.gateway, outcome: 'fallback' }, (performance.now() - input.arrivedAt) / 1000);
    // What the client saw is the fallback: store that (for replays), once the work is in.
    void work
      .then((done) => (done.replay ? undefined : storeAnswer(engine.db, done.pk, answer, performance.now() - input.arrivedAt)))
      .catch((error: unknown) => engine.log.error({ err: messageForLog(error) }, 'USSD hop failed after its fallback answer'));
    return answer;
  }
  if (result.replay) {
    const answer = await replay(engine.db, integration, result.dedupeKey, deadline, fallback);
    ussdHopDuration.observe({ gateway: turn.gateway, outcome: 'replay' }, (performance.now() - input.arrivedAt) / 1000);
    return answer;
  }
  const latencyMs = performance.now() - input.arrivedAt;
  ussdHopDuration.observe({ gateway: turn.gateway, outcome: 'answered' }, latencyMs / 1000);
  void sql`UPDATE ussd_request_v1 SET latency_ms = ${latencyMs} WHERE pk = ${result.pk}`
    .execute(engine.db)
    .then(() => (result.channel ? markRead(engine.db, result.channel, result.readIds) : undefined))
    .catch((error: unknown) => engine.log.warn({ err: messageForLog(error) }, 'USSD hop latency or read replies not stored'));
  return result.response;
}

async function runTurn(trx: Kysely<Database>, input: HopInput): Promise<TurnResult> {
  const { integration, adapter, settings, turn } = input;
  // Waiting on a session another hop holds may not outlast the answer by much.
  await sql`SELECT set_config('lock_timeout', ${`${settings.budgetMs * 2}ms`}, true)`.execute(trx);
  const key = await hashKeyOf(trx, integration);
  const sessionId = sessionIdFor(
    { flow: settings.flowName, gateway: turn.gateway, url: input.url, identifier: settings.identifier === 'msisdn' ? turn.msisdn : turn.sessionId },
    settings.boundaries,
    key,
  );
  const gatewaySession = hashIdentifier(key, turn.sessionId);
  const session = await lockSession(trx, { id: sessionId, integrationId: integration.id, gateway: turn.gateway, msisdnHash: hashIdentifier(key, turn.msisdn) });

  const replayed = !adapter.sequenced && session.recent && session.last_dedupe === turn.dedupe;
  const hop = adapter.sequenced ? turn.dedupe : `${replayed ? session.hops - 1 : session.hops}:${turn.dedupe}`;
  // The gateway session id is hashed: Nalo's contains the caller's number.
  const dedupeKey = `${turn.gateway}:${gatewaySession}:${turn.kind}:${hop}`;
  const { rows } = await sql<{ pk: number }>`
    INSERT INTO ussd_request_v1 (integration_id, dedupe_key, gateway, session_id, kind, turn, raw_body, data)
    VALUES (${integration.id}, ${dedupeKey}, ${turn.gateway}, ${sessionId}, ${turn.kind}, ${JSON.stringify(turn)}::jsonb,
            ${input.rawBody}, ${JSON.stringify(turn.raw)}::jsonb)
    ON CONFLICT (integration_id, dedupe_key) DO NOTHING
    RETURNING pk`.execute(trx);
  const pk = rows[0]?.pk;
  if (pk === undefined) return { replay: true, dedupeKey };

  if (turn.kind === 'release' || turn.kind === 'timeout') {
    // Only the gateway session the row serves now can end it (a durable session outlives
    // earlier dials); one we already ended keeps its reason.
    if (session.status === 'open' && (session.gateway_session === null || session.gateway_session === gatewaySession)) {
      await saveSession(trx, sessionId, { state: null, close: turn.kind === 'release' ? 'released' : 'gateway timeout', dedupe: turn.dedupe, gatewaySession });
    }
    const response = input.adapter.render({ text: '', end: true }, turn);
    await storeAnswer(trx, pk, response, null);
    return { replay: false, pk, response, readIds: [], channel: null };
  }

  const channel = await channelOf(trx, integration);
  const ctx = { unreadReplies: channel ? await unreadReplies(trx, channel, turn.msisdn) : [], budget: settings.pageBudget };
  const state = session.state as FlowSession | null;
  const typed = adapter.inputAfter?.(turn, session.last_dedupe) ?? turn.input;
  // A dial always starts over; so does an answer to a session that had ended.
  const step = turn.kind === 'initial' || !state || session.status === 'closed' ? startFlow(settings.flow, ctx) : continueFlow(settings.flow, state, typed, ctx);
  if (channel) await handToChannel(input, trx, channel, step.session, pk, sessionId);
  await saveSession(trx, sessionId, { state: step.session, close: step.ended ? 'completed' : null, dedupe: turn.dedupe, gatewaySession });
  const response = adapter.render(step.screen, turn);
  await storeAnswer(trx, pk, response, null, step.actions);
  const readIds = step.actions.flatMap((a) => (a.type === 'mark_replies_read' ? a.ids : []));
  if (!channel && step.actions.some((a) => a.type === 'submit_message')) {
    input.engine.log.warn({ integration_id: integration.id }, 'no Front USSD channel to hand the message to: recorded on the hop only');
  }
  return { replay: false, pk, response, readIds, channel };
}

/**
 * The flow's `message` goes to the channel the moment it is typed (an inbound row, the
 * conversation being the client's number); a later consent answer updates that row.
 */
async function handToChannel(input: HopInput, trx: Kysely<Database>, channel: ServiceIntegration, session: FlowSession, hopPk: number, sessionId: string): Promise<void> {
  const { data } = session;
  const consent = typeof data.sms_consent === 'boolean' ? data.sms_consent : null;
  if (typeof data[SUBMITTED] === 'string') {
    if (consent !== null) {
      await sql`UPDATE front_ussd_channel_app_v1 SET sms_consent = ${consent}
        WHERE integration_id = ${channel.id} AND external_id = ${data[SUBMITTED]}`.execute(trx);
    }
    return;
  }
  if (typeof data.message !== 'string' || data.message.trim() === '') return;
  const { turn } = input;
  const columns = {
    signalwire_sid: null,
    front_message_id: null,
    external_conversation_id: turn.msisdn,
    direction: 'inbound',
    body: data.message,
    sender: turn.msisdn,
    recipient: channel.api_url,
    sms_consent: consent,
    ussd_request_id: hopPk,
  };
  const row: RowInput = { key: `ussd-${hopPk}`, columns, data: { ...columns, gateway: turn.gateway, ussd_session: sessionId } };
  await ingestRows(input.engine, channel, [row], { origin: 'webhook', db: trx });
  data[SUBMITTED] = row.key;
}

async function storeAnswer(db: Kysely<Database>, pk: number, response: GatewayHttpResponse, latencyMs: number | null, actions: unknown[] = []): Promise<void> {
  await sql`
    UPDATE ussd_request_v1 SET response_status = ${response.status}, response_content_type = ${response.contentType},
      response_body = ${response.body}, latency_ms = COALESCE(${latencyMs}::real, latency_ms),
      data = data || jsonb_build_object('actions', ${JSON.stringify(actions)}::jsonb), row_updated_at = now()
    WHERE pk = ${pk}`.execute(db);
}

/** A repeated hop: the first one's answer, as stored with it (waiting no longer than our own budget). */
async function replay(db: Kysely<Database>, integration: ServiceIntegration, dedupeKey: string, deadline: number, fallback: () => GatewayHttpResponse): Promise<GatewayHttpResponse> {
  for (;;) {
    const { rows } = await sql<{ status: number | null; content_type: string | null; body: string | null }>`
      SELECT response_status AS status, response_content_type AS content_type, response_body AS body
      FROM ussd_request_v1 WHERE integration_id = ${integration.id} AND dedupe_key = ${dedupeKey}`.execute(db);
    const stored = rows[0];
    if (stored?.status != null && stored.content_type !== null && stored.body !== null) {
      return { status: stored.status, contentType: stored.content_type, body: stored.body };
    }
    if (performance.now() > deadline) return fallback();
    await new Promise((r) => setTimeout(r, 25));
  }
}
