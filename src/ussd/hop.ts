/**
 * One USSD hop, from normalised turn to the gateway's answer, inside the response budget:
 *
 * 1. lock the session row (hops of one session run one at a time) and decide which hop
 *    this is: a sequenced gateway says so; otherwise the same input right after the last
 *    hop is a replay of it;
 * 2. record the hop under its de-duplication key — a replay finds it recorded and gets the
 *    first answer back, identically — then start or continue the flow (with the client's
 *    unread replies from the Front USSD channel), save the session (closed with a reason
 *    when the flow or the gateway ends it), and hand a typed message to the channel;
 * 3. answer — or, past the budget, answer an END screen saying the message was received
 *    and replies come by SMS, and let the work finish in the background;
 * 4. after answering, store the response and latency on the hop row (never on the clock).
 */
import { sql, type Kysely } from 'kysely';
import type { Database, ServiceIntegration } from '../db/schema.ts';
import { coerceError } from '../engine/errors.ts';
import { ingestRows, type Engine } from '../engine/ingest.ts';
import type { RowInput } from '../engine/replicator.ts';
import { channelOf, markRead, unreadReplies } from '../replicators/front-ussd-channel-app-v1.ts';
import { continueFlow, startFlow, type Flow, type FlowAction, type FlowSession } from './flow/engine.ts';
import { hashIdentifier, hashKeyOf, lockSession, saveSession, sessionIdFor, type Boundary } from './sessions.ts';
import type { GatewayAdapter, GatewayHttpResponse, Screen, UssdTurn } from './types.ts';

export interface UssdSettings {
  flow: Flow;
  flowName: string;
  pageBudget: number;
  budgetMs: number;
  identifier: 'session' | 'msisdn';
  boundaries: readonly Boundary[];
}

export const FALLBACK_TEXT = 'Thank you, your message was received. Replies will come by SMS.';
/** An unsequenced gateway's identical input this soon after the last hop is a replay, not a new answer. */
const REPLAY_WINDOW_MS = 3000;
/** How long a replayed hop waits for the first one's answer to be stored. */
const REPLAY_WAIT_MS = 2000;

type TurnResult =
  | { replay: true; dedupeKey: string }
  | { replay: false; pk: number; screen: Screen; actions: FlowAction[] };

export interface HopInput {
  engine: Engine;
  integration: ServiceIntegration;
  adapter: GatewayAdapter;
  settings: UssdSettings;
  turn: UssdTurn;
  rawBody: string;
  /** Where the gateway called us (the url boundary). */
  url: string;
}

export async function handleHop(input: HopInput): Promise<GatewayHttpResponse> {
  const started = performance.now();
  const { engine, integration, adapter, settings, turn } = input;
  const work = engine.db.transaction().execute((trx) => runTurn(trx, input));
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), settings.budgetMs);
  });
  const result = await Promise.race([work, deadline]);
  clearTimeout(timer);
  if (result?.replay) return replay(engine.db, integration, result.dedupeKey, adapter, turn);
  if (!result) {
    engine.log.warn({ integration_id: integration.id, gateway: turn.gateway }, 'USSD hop over budget: answered END, finishing in the background');
    work.catch((error: unknown) => engine.log.error({ err: coerceError(error).message }, 'USSD hop failed after its fallback answer'));
  }
  const response = adapter.render(result?.screen ?? { text: FALLBACK_TEXT, end: true }, turn);
  const latencyMs = performance.now() - started;
  // Stored after the answer is decided, so storing never delays it. Over budget, the row
  // is written when the background work commits.
  void work
    .then((done) =>
      done.replay
        ? undefined
        : sql`
          UPDATE ussd_request_v1 SET response_status = ${response.status}, response_content_type = ${response.contentType},
            response_body = ${response.body}, latency_ms = ${latencyMs},
            data = data || jsonb_build_object('actions', ${JSON.stringify(done.actions)}::jsonb), row_updated_at = now()
          WHERE pk = ${done.pk}`.execute(engine.db),
    )
    .catch((error: unknown) => engine.log.warn({ err: coerceError(error).message }, 'USSD hop response not stored'));
  return response;
}

async function runTurn(trx: Kysely<Database>, input: HopInput): Promise<TurnResult> {
  const { integration, adapter, settings, turn } = input;
  const key = await hashKeyOf(trx, integration);
  const sessionId = sessionIdFor(
    { flow: settings.flowName, gateway: turn.gateway, url: input.url, identifier: settings.identifier === 'msisdn' ? turn.msisdn : turn.sessionId },
    settings.boundaries,
    key,
  );
  const session = await lockSession(trx, { id: sessionId, integrationId: integration.id, gateway: turn.gateway, msisdnHash: hashIdentifier(key, turn.msisdn) });

  const replayed =
    !adapter.sequenced && session.last_dedupe === turn.dedupe && Date.now() - new Date(session.last_hop_at).getTime() < REPLAY_WINDOW_MS;
  const hop = adapter.sequenced ? turn.dedupe : `${replayed ? session.hops - 1 : session.hops}:${turn.dedupe}`;
  // The gateway session id is hashed: Nalo's contains the caller's number.
  const dedupeKey = `${turn.gateway}:${hashIdentifier(key, turn.sessionId)}:${turn.kind}:${hop}`;
  const { rows } = await sql<{ pk: number }>`
    INSERT INTO ussd_request_v1 (integration_id, dedupe_key, gateway, session_id, kind, turn, raw_body, data)
    VALUES (${integration.id}, ${dedupeKey}, ${turn.gateway}, ${sessionId}, ${turn.kind}, ${JSON.stringify(turn)}::jsonb,
            ${input.rawBody}, ${JSON.stringify(turn.raw)}::jsonb)
    ON CONFLICT (integration_id, dedupe_key) DO NOTHING
    RETURNING pk`.execute(trx);
  const pk = rows[0]?.pk;
  if (pk === undefined) return { replay: true, dedupeKey };

  if (turn.kind === 'release' || turn.kind === 'timeout') {
    // A session we already ended keeps its reason (Africa's Talking reports every end).
    if (session.status === 'open') await saveSession(trx, sessionId, session.state, turn.kind === 'release' ? 'released' : 'gateway timeout', turn.dedupe);
    return { replay: false, pk, screen: { text: '', end: true }, actions: [] };
  }
  const channel = await channelOf(trx, integration);
  const ctx = { unreadReplies: channel ? await unreadReplies(trx, channel, turn.msisdn) : [], budget: settings.pageBudget };
  const state = session.state as FlowSession | null;
  // A dial always starts over; so does an answer to a session that had ended.
  const step = turn.kind === 'initial' || !state || session.status === 'closed' ? startFlow(settings.flow, ctx) : continueFlow(settings.flow, state, turn.input, ctx);
  await saveSession(trx, sessionId, step.session, step.ended ? 'completed' : null, turn.dedupe);
  if (channel) {
    for (const action of step.actions) {
      if (action.type === 'mark_replies_read') await markRead(trx, channel, action.ids);
      else await ingestRows(input.engine, channel, [submittedMessage(channel, turn, pk, sessionId, action.data)], { origin: 'webhook', db: trx });
    }
  } else if (step.actions.length > 0) {
    input.engine.log.warn({ integration_id: integration.id }, 'no Front USSD channel to hand the message to: recorded on the hop only');
  }
  return { replay: false, pk, screen: step.screen, actions: step.actions };
}

/** What a client typed, as an inbound row of the Front USSD channel (conversation: their number). */
function submittedMessage(channel: ServiceIntegration, turn: UssdTurn, hopPk: number, sessionId: string, data: Record<string, unknown>): RowInput {
  const columns = {
    signalwire_sid: null,
    front_message_id: null,
    external_conversation_id: turn.msisdn,
    direction: 'inbound',
    body: typeof data.message === 'string' ? data.message : null,
    sender: turn.msisdn,
    recipient: channel.api_url,
    sms_consent: data.sms_consent === true,
    ussd_request_id: hopPk,
  };
  return { key: `ussd-${hopPk}`, columns, data: { ...data, ...columns, gateway: turn.gateway, ussd_session: sessionId } };
}

/** A repeated hop: the first one's answer, once it is stored. */
async function replay(db: Kysely<Database>, integration: ServiceIntegration, dedupeKey: string, adapter: GatewayAdapter, turn: UssdTurn): Promise<GatewayHttpResponse> {
  const deadline = Date.now() + REPLAY_WAIT_MS;
  for (;;) {
    const { rows } = await sql<{ status: number | null; content_type: string | null; body: string | null }>`
      SELECT response_status AS status, response_content_type AS content_type, response_body AS body
      FROM ussd_request_v1 WHERE integration_id = ${integration.id} AND dedupe_key = ${dedupeKey}`.execute(db);
    const stored = rows[0];
    if (stored?.status != null && stored.content_type !== null && stored.body !== null) {
      return { status: stored.status, contentType: stored.content_type, body: stored.body };
    }
    if (Date.now() > deadline) return adapter.render({ text: FALLBACK_TEXT, end: true }, turn);
    await new Promise((r) => setTimeout(r, 25));
  }
}
