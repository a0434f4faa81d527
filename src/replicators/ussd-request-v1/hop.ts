/**
 * One USSD hop, from normalised turn to the gateway's answer, inside the response budget:
 *
 * 1. commit the request as it came (raw body, turn, typed text) under a per-request id,
 *    through the engine's upsert: a small insert that needs no session lock, so nothing
 *    is ever answered "received" that is not committed;
 * 2. in one transaction: lock the session row (the wait is bounded), then process the
 *    session's pending hops in arrival order — an earlier hop whose processing failed goes
 *    first — each one: decide which hop it is (a sequenced gateway says so; otherwise the
 *    same input within a second of the last answer is a replay, which gets the first
 *    answer back), run the flow with the client's unread replies, hand a typed message to
 *    the Front USSD channel as soon as it is typed, save the session, store the answer;
 * 3. answer — or, past the budget or on failure, answer an END screen saying the message
 *    was received (worded by the caller's SMS consent); a hop whose processing failed stays
 *    pending and is retried by the integration's passes until it succeeds or is marked
 *    failed (shown by `status` and the dashboard);
 * 4. after answering: latency, and replies marked read (only once the client was shown them).
 */
import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database, ServiceIntegration } from '../../db/schema.ts';
import { requestBackfill } from '../../engine/backfill-queue.ts';
import { messageForLog } from '../../engine/errors.ts';
import type { Engine } from '../../engine/engine.ts';
import { ingestRows } from '../../engine/ingest.ts';
import { channelOf, markRead, setConsent, smsConsentOf, submitMessage, unreadReplies } from '../front-ussd-channel-app-v1.ts';
import { ussdHopDuration } from '../../metrics.ts';
import { continueFlow, startFlow, type FlowSession } from '../../ussd/flow/engine.ts';
import { adapterFor } from '../../ussd/gateways/index.ts';
import { hashIdentifier, hashKeyOf, lockSession, saveSession, sessionIdFor, type SessionRow } from './sessions.ts';
import { storedSettings, ussdSettings, type UssdSettings } from './settings.ts';
import type { GatewayAdapter, GatewayHttpResponse, UssdTurn } from '../../ussd/types.ts';

/** Processing attempts of a hop before it is marked failed. */
export const MAX_HOP_ATTEMPTS = 10;
/** Session data key holding the external id of the message this session handed to the channel. */
const SUBMITTED = '$submitted';

/**
 * The END screen of a hop answered before its work was done: true to what the caller agreed
 * to, and to whether this service may show replies (only when its callers are authenticated).
 */
export function receiptText(smsConsent: boolean, repliesShown: boolean): string {
  const received = 'Thank you, your message was received.';
  if (smsConsent) return repliesShown ? `${received} Replies will come by SMS, and you can read them when you dial again.` : `${received} Replies will come by SMS.`;
  return repliesShown ? `${received} Dial again to read replies.` : received;
}

export interface HopInput {
  engine: Engine;
  integration: ServiceIntegration;
  adapter: GatewayAdapter;
  settings: UssdSettings;
  /** NUL-free, well-formed (the route cleans it). */
  turn: UssdTurn;
  rawBody: string;
  /** Where the gateway called us (the url boundary). */
  url: string;
  /** When the request arrived (performance.now()): the budget counts from there. */
  arrivedAt: number;
}

/** A hop as committed on arrival, waiting to be processed. */
interface PendingHop {
  pk: number;
  turn: UssdTurn;
}

type HopOutcome =
  | { replay: true; of: number }
  | { replay: false; response: GatewayHttpResponse; readIds: string[]; channel: ServiceIntegration | null };

export async function handleHop(input: HopInput): Promise<GatewayHttpResponse> {
  const { engine, integration, adapter, settings, turn } = input;
  const deadline = input.arrivedAt + settings.budgetMs;
  const sessionId = sessionIdFor(
    { flow: settings.flowName, gateway: turn.gateway, url: input.url, identifier: settings.identifier === 'msisdn' ? turn.msisdn : turn.sessionId },
    settings.boundaries,
    await hashKeyOf(engine.db, integration),
  );
  const pk = await recordHop(engine, integration, sessionId, turn, input.rawBody);

  const work = engine.db.transaction().execute((trx) => processSession(trx, engine, integration, sessionId, pk));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), Math.max(0, deadline - performance.now()));
  });
  const result = await Promise.race([work, late]).catch((error: unknown) => {
    engine.log.error({ err: messageForLog(error), integration_id: integration.id }, 'USSD hop failed: left pending for a retry');
    return 'failed' as const;
  });
  clearTimeout(timer);

  if (result === 'late' || result === 'failed') {
    if (result === 'late') engine.log.warn({ integration_id: integration.id, gateway: turn.gateway }, 'USSD hop over budget: answered END, finishing in the background');
    const answer = adapter.render({ text: receiptText(await consentOf(engine, integration, turn.msisdn), settings.authenticated), end: true }, turn);
    ussdHopDuration.observe({ gateway: turn.gateway, outcome: 'fallback' }, (performance.now() - input.arrivedAt) / 1000);
    // What the client saw is the receipt: store that (for replays), whatever the work does.
    void work
      .then(() => storeAnswer(engine.db, pk, answer, performance.now() - input.arrivedAt, true))
      .catch(async (error: unknown) => {
        await storeAnswer(engine.db, pk, answer, performance.now() - input.arrivedAt, true);
        await recordFailure(engine, integration, pk, error);
      })
      .catch((error: unknown) => engine.log.error({ err: messageForLog(error), integration_id: integration.id }, 'USSD hop failure not recorded: the next pass retries it'));
    return answer;
  }
  const outcome = result.get(pk);
  if (!outcome || outcome.replay) {
    const answer = await replay(engine.db, outcome?.of ?? pk, deadline, () => adapter.render({ text: receiptText(false, settings.authenticated), end: true }, turn));
    ussdHopDuration.observe({ gateway: turn.gateway, outcome: 'replay' }, (performance.now() - input.arrivedAt) / 1000);
    return answer;
  }
  const latencyMs = performance.now() - input.arrivedAt;
  ussdHopDuration.observe({ gateway: turn.gateway, outcome: 'answered' }, latencyMs / 1000);
  void storeAnswer(engine.db, pk, outcome.response, latencyMs, false)
    .then(() => (outcome.channel ? markRead(engine.db, outcome.channel, outcome.readIds) : undefined))
    .catch((error: unknown) => engine.log.warn({ err: messageForLog(error) }, 'USSD hop latency or read replies not stored'));
  return outcome.response;
}

/** Step 1: the request, committed before anything else happens to it. */
async function recordHop(engine: Engine, integration: ServiceIntegration, sessionId: string, turn: UssdTurn, rawBody: string): Promise<number> {
  const columns = { gateway: turn.gateway, session_id: sessionId, kind: turn.kind, turn, raw_body: rawBody, attempts: 0 };
  const [row] = await ingestRows(engine, integration, [{ key: randomUUID(), columns, data: turn.raw }], { origin: 'webhook' });
  return row!.pk!;
}

/** The caller's SMS consent as last recorded, for the receipt screen; no answer in time means none. */
async function consentOf(engine: Engine, integration: ServiceIntegration, msisdn: string): Promise<boolean> {
  const lookup = channelOf(engine.db, storedSettings(integration).channel).then((channel) => (channel ? smsConsentOf(engine.db, channel, msisdn) : null));
  const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), 250).unref());
  return (await Promise.race([lookup, timeout]).catch(() => null)) === true;
}

/**
 * Step 2: lock the session and process its pending hops up to `upTo` (all when null) in
 * arrival order, in the caller's transaction. Returns each processed hop's outcome.
 */
async function processSession(
  trx: Kysely<Database>,
  engine: Engine,
  integration: ServiceIntegration,
  sessionId: string,
  upTo: number | null,
): Promise<Map<number, HopOutcome>> {
  const outcomes = new Map<number, HopOutcome>();
  const { rows: pending } = await sql<PendingHop>`
    SELECT pk, turn FROM ussd_request_v1
    WHERE integration_id = ${integration.id} AND session_id = ${sessionId} AND processed_at IS NULL AND failed_at IS NULL
      AND pk <= ${upTo ?? Number.MAX_SAFE_INTEGER}
    ORDER BY pk`.execute(trx);
  const first = pending[0];
  if (!first) return outcomes;
  const settings = ussdSettings(integration, gatewayOf(first.turn), engine.config);
  // Waiting on a session another hop holds may not outlast the answer by much.
  await sql`SELECT set_config('lock_timeout', ${`${settings.budgetMs * 2}ms`}, true)`.execute(trx);
  const key = await hashKeyOf(trx, integration);
  const session = await lockSession(trx, { id: sessionId, integrationId: integration.id, gateway: first.turn.gateway, msisdnHash: hashIdentifier(key, first.turn.msisdn) });
  // Re-read under the lock: another transaction may have processed some meanwhile.
  const { rows: locked } = await sql<PendingHop>`
    SELECT pk, turn FROM ussd_request_v1
    WHERE pk = ANY(${pending.map((h) => h.pk)}::bigint[]) AND processed_at IS NULL AND failed_at IS NULL
    ORDER BY pk FOR UPDATE`.execute(trx);
  let current = session;
  for (const [index, hop] of locked.entries()) {
    // Each hop sees the session as the one before left it.
    if (index > 0) current = await lockSession(trx, { id: sessionId, integrationId: integration.id, gateway: hop.turn.gateway, msisdnHash: hashIdentifier(key, hop.turn.msisdn) });
    const adapter = gatewayOf(hop.turn);
    outcomes.set(hop.pk, await runTurn(trx, engine, integration, { adapter, settings: ussdSettings(integration, adapter, engine.config), key, sessionId }, current, hop));
  }
  return outcomes;
}

function gatewayOf(turn: UssdTurn): GatewayAdapter {
  const adapter = adapterFor(turn.gateway);
  if (!adapter) throw new Error(`stored hop of unknown gateway "${turn.gateway}"`);
  return adapter;
}

async function runTurn(
  trx: Kysely<Database>,
  engine: Engine,
  integration: ServiceIntegration,
  context: { adapter: GatewayAdapter; settings: UssdSettings; key: string; sessionId: string },
  session: SessionRow,
  hop: PendingHop,
): Promise<HopOutcome> {
  const { adapter, settings, key, sessionId } = context;
  const { turn } = hop;
  const gatewaySession = hashIdentifier(key, turn.sessionId);
  const replayed = !adapter.sequenced && session.recent && session.last_dedupe === turn.dedupe;
  const position = adapter.sequenced ? turn.dedupe : `${replayed ? session.hops - 1 : session.hops}:${turn.dedupe}`;
  // The gateway session id is hashed: Nalo's contains the caller's number.
  const dedupeKey = `${turn.gateway}:${gatewaySession}:${turn.kind}:${position}`;
  const { rows: earlier } = await sql<{ pk: number }>`
    SELECT pk FROM ussd_request_v1 WHERE integration_id = ${integration.id} AND dedupe_key = ${dedupeKey}`.execute(trx);
  if (earlier[0]) {
    await sql`UPDATE ussd_request_v1 SET replay_of = ${earlier[0].pk}, processed_at = now(), row_updated_at = now() WHERE pk = ${hop.pk}`.execute(trx);
    return { replay: true, of: earlier[0].pk };
  }
  await sql`UPDATE ussd_request_v1 SET dedupe_key = ${dedupeKey} WHERE pk = ${hop.pk}`.execute(trx);

  if (turn.kind === 'release' || turn.kind === 'timeout') {
    // Only the gateway session the row serves now can end it (a durable session outlives
    // earlier dials); one we already ended keeps its reason.
    if (session.status === 'open' && (session.gateway_session === null || session.gateway_session === gatewaySession)) {
      await saveSession(trx, sessionId, { state: null, close: turn.kind === 'release' ? 'released' : 'gateway timeout', dedupe: turn.dedupe, gatewaySession });
    }
    const response = adapter.render({ text: '', end: true }, turn);
    await storeResult(trx, hop.pk, response, []);
    return { replay: false, response, readIds: [], channel: null };
  }

  const channel = await channelOf(trx, storedSettings(integration).channel);
  // Anyone could pose as this caller unless the service is authenticated: then no reply is shown.
  const replies = channel && settings.authenticated ? await unreadReplies(trx, channel, turn.msisdn) : [];
  const ctx = { unreadReplies: replies, budget: settings.pageBudget };
  const state = session.state as FlowSession | null;
  const typed = adapter.inputAfter?.(turn, session.last_dedupe) ?? turn.input;
  // A dial always starts over; so does an answer to a session that had ended.
  const step = turn.kind === 'initial' || !state || session.status === 'closed' ? startFlow(settings.flow, ctx) : continueFlow(settings.flow, state, typed, ctx);
  await handToChannel(engine, trx, channel, step.session, { hopPk: hop.pk, turn, sessionId, consentTrusted: settings.authenticated });
  await saveSession(trx, sessionId, { state: step.session, close: step.ended ? 'completed' : null, dedupe: turn.dedupe, gatewaySession });
  const response = adapter.render(step.screen, turn);
  await storeResult(trx, hop.pk, response, step.actions);
  const readIds = step.actions.flatMap((a) => (a.type === 'mark_replies_read' ? a.ids : []));
  return { replay: false, response, readIds, channel };
}

/** A typed message held on its hop while no channel can take it: `<HELD_PREFIX><hop pk>` in the session. */
const HELD_PREFIX = 'held:';

/**
 * The flow's `message` goes to the channel the moment it is typed; a later consent answer
 * updates that message. Consent counts only from an authenticated service: otherwise a
 * stranger could have replies texted to a child's phone. With no channel linked (none, or
 * several and no `--channel`), the message is held on its hop, pending, and the service's
 * next pass after a channel is linked hands it over (releaseHeldMessages).
 */
async function handToChannel(
  engine: Engine,
  trx: Kysely<Database>,
  channel: ServiceIntegration | null,
  session: FlowSession,
  hop: { hopPk: number; turn: UssdTurn; sessionId: string; consentTrusted: boolean },
): Promise<void> {
  const { data } = session;
  const { hopPk, turn, sessionId } = hop;
  const consent = hop.consentTrusted && typeof data.sms_consent === 'boolean' ? data.sms_consent : null;
  const submitted = data[SUBMITTED];
  if (typeof submitted === 'string') {
    if (consent === null) return;
    if (submitted.startsWith(HELD_PREFIX)) {
      await sql`UPDATE ussd_request_v1 SET data = jsonb_set(data, '{held_message,consent}', to_jsonb(${consent}::boolean))
        WHERE pk = ${Number(submitted.slice(HELD_PREFIX.length))} AND data ? 'held_message'`.execute(trx);
    } else if (channel) {
      await setConsent(trx, channel, submitted, consent);
    }
    return;
  }
  if (typeof data.message !== 'string' || data.message.trim() === '') return;
  const message = { hopPk, msisdn: turn.msisdn, body: data.message, consent, gateway: turn.gateway, sessionId };
  if (channel) {
    data[SUBMITTED] = await submitMessage(engine, trx, channel, message);
    return;
  }
  await sql`UPDATE ussd_request_v1 SET data = data || jsonb_build_object('held_message', ${JSON.stringify(message)}::jsonb) WHERE pk = ${hopPk}`.execute(trx);
  data[SUBMITTED] = `${HELD_PREFIX}${hopPk}`;
  engine.log.warn({ ussd_request_pk: hopPk }, 'no Front USSD channel linked: message held on its hop until one is');
}

/**
 * Messages held for want of a channel, handed to the service's channel once it has one;
 * an open session that still points at the held message points at the handed one after.
 */
async function releaseHeldMessages(engine: Engine, integration: ServiceIntegration): Promise<number> {
  const channel = await channelOf(engine.db, storedSettings(integration).channel);
  if (!channel) return 0;
  const { rows } = await sql<{ pk: number }>`
    SELECT pk FROM ussd_request_v1 WHERE integration_id = ${integration.id} AND data ? 'held_message' ORDER BY pk`.execute(engine.db);
  for (const { pk } of rows) {
    await engine.db.transaction().execute(async (trx) => {
      const { rows: held } = await sql<{ session_id: string; message: Parameters<typeof submitMessage>[3] }>`
        SELECT session_id, data->'held_message' AS message FROM ussd_request_v1 WHERE pk = ${pk} AND data ? 'held_message' FOR UPDATE`.execute(trx);
      const hop = held[0];
      if (!hop) return;
      const key = await submitMessage(engine, trx, channel, { ...hop.message, hopPk: pk });
      await sql`UPDATE ussd_request_v1 SET data = (data - 'held_message') || jsonb_build_object('handed_to', ${key}::text), row_updated_at = now() WHERE pk = ${pk}`.execute(trx);
      await sql`UPDATE ussd_sessions SET state = jsonb_set(state, '{data,$submitted}', to_jsonb(${key}::text))
        WHERE id = ${hop.session_id} AND state #>> '{data,$submitted}' = ${`${HELD_PREFIX}${pk}`}`.execute(trx);
    });
  }
  return rows.length;
}

/** The flow's answer and actions, and the hop processed. */
async function storeResult(trx: Kysely<Database>, pk: number, response: GatewayHttpResponse, actions: unknown[]): Promise<void> {
  await sql`
    UPDATE ussd_request_v1 SET processed_at = now(),
      -- A receipt already shown (the hop was answered before this ran) stays what replays get.
      response_status = COALESCE(response_status, ${response.status}), response_content_type = COALESCE(response_content_type, ${response.contentType}),
      response_body = COALESCE(response_body, ${response.body}),
      data = data || jsonb_build_object('actions', ${JSON.stringify(actions)}::jsonb), row_updated_at = now()
    WHERE pk = ${pk}`.execute(trx);
}

/** After answering: the latency, and (`shown`) the answer the client saw when it was not the flow's. */
async function storeAnswer(db: Kysely<Database>, pk: number, response: GatewayHttpResponse, latencyMs: number, shown: boolean): Promise<void> {
  await sql`
    UPDATE ussd_request_v1 SET latency_ms = ${latencyMs},
      response_status = CASE WHEN ${shown} THEN ${response.status} ELSE response_status END,
      response_content_type = CASE WHEN ${shown} THEN ${response.contentType} ELSE response_content_type END,
      response_body = CASE WHEN ${shown} THEN ${response.body} ELSE response_body END
    WHERE pk = ${pk}`.execute(db);
}

/** A failed attempt: counted, its reason kept, the hop failed for good after MAX_HOP_ATTEMPTS, and a pass asked for. */
async function recordFailure(engine: Engine, integration: ServiceIntegration, pk: number, error: unknown): Promise<void> {
  await engine.db.transaction().execute(async (trx) => {
    await sql`
      UPDATE ussd_request_v1 SET attempts = attempts + 1, last_error = ${messageForLog(error)},
        failed_at = CASE WHEN attempts + 1 >= ${MAX_HOP_ATTEMPTS} THEN now() END, row_updated_at = now()
      WHERE pk = ${pk} AND processed_at IS NULL AND failed_at IS NULL`.execute(trx);
    await requestBackfill(trx, integration.id, { incremental: true, trigger: 'ussd' });
  });
}

/**
 * The integration's pass: messages held for want of a channel are handed over once there is
 * one; every session with hops left pending (a failure, a crash) is processed again, oldest
 * hop first. A session that fails again counts an attempt on its
 * oldest hop; the pass then fails, so the job queue retries it with back-off.
 */
export async function retryPendingHops(engine: Engine, integration: ServiceIntegration): Promise<number> {
  const released = await releaseHeldMessages(engine, integration);
  const { rows } = await sql<{ session_id: string; pk: number }>`
    SELECT session_id, min(pk)::int AS pk FROM ussd_request_v1
    WHERE integration_id = ${integration.id} AND processed_at IS NULL AND failed_at IS NULL
      AND row_created_at < now() - make_interval(secs => ${RETRY_AFTER_SECONDS})
    GROUP BY session_id ORDER BY min(pk)`.execute(engine.db);
  let processed = 0;
  let failure: unknown = null;
  for (const { session_id: sessionId, pk } of rows) {
    try {
      const outcomes = await engine.db.transaction().execute((trx) => processSession(trx, engine, integration, sessionId, null));
      processed += outcomes.size;
    } catch (error) {
      failure = error;
      await recordFailure(engine, integration, pk, error);
    }
  }
  if (failure) throw failure;
  return processed + released;
}

/** Hops younger than this may still be in their first transaction: a pass leaves them to it. */
const RETRY_AFTER_SECONDS = 2;

/** A repeated hop: the first one's answer, as stored with it (waiting no longer than our own budget). */
async function replay(db: Kysely<Database>, pk: number, deadline: number, fallback: () => GatewayHttpResponse): Promise<GatewayHttpResponse> {
  for (;;) {
    const { rows } = await sql<{ status: number | null; content_type: string | null; body: string | null }>`
      SELECT response_status AS status, response_content_type AS content_type, response_body AS body
      FROM ussd_request_v1 WHERE pk = ${pk}`.execute(db);
    const stored = rows[0];
    if (stored?.status != null && stored.content_type !== null && stored.body !== null) {
      return { status: stored.status, contentType: stored.content_type, body: stored.body };
    }
    if (performance.now() > deadline) return fallback();
    await new Promise((r) => setTimeout(r, 25));
  }
}
