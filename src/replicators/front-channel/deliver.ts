/**
 * A Front channel's backfill pass: deliver every pending row, then write its counterpart id.
 * The channel's `ChannelSpec` says how its rows read (when they were written, what Front
 * gets for an import, whether a reply may go); its `Transport` (transport.ts) how replies
 * leave; the rest is common to every Front channel.
 *
 * - no front_message_id: import into Front (inbound_messages, or outbound_messages), once
 *   ever per row (the spec's idempotency key, e.g. `fsmca-fims-<external_id>`). The start
 *   of each import is committed first; an import that got no answer (timeout, reset,
 *   crash) is held until Front's `message_imported` notice names it (imported.ts:
 *   adopted, not imported again) or SWITCHBOARD_FRONT_IMPORT_HOLD_S runs out.
 * - no counterpart id (the transport's column, e.g. signalwire_sid): send the reply, once
 *   ever per row (the transport's key). A send whose outcome we never heard (timeout,
 *   crash) is first looked for at the provider and adopted, never resent. A transport may
 *   answer "not now" (NotYet): the row stays pending until the time it names.
 * - older than 48 h: `skipped_due_to_age`; refused by the transport (e.g. outside
 *   SIGNALWIRE_SMS_ALLOWLIST): its marker, e.g. `skipped`.
 * - a coded provider error marks the row failed with its code (no retry loop); a
 *   transient one backs off per row (Retry-After honoured, at most MAX_BACKOFF_MS) and a
 *   later pass is queued; one bad row never stops the others. Rejected credentials stop
 *   the pass (shown on the integration).
 * - a provider that looks down (BREAKER consecutive transient failures of one step, import
 *   or send) is left alone for the rest of the pass; its other rows wait untouched for the
 *   next one. A step that succeeds again clears its rows' back-offs, so a backlog left by an
 *   outage drains at once instead of when each back-off runs out.
 *
 * Rows go in waves: the next row of up to deliveryConcurrency conversations (a
 * conversation's next row waits for the next wave, so nothing overtakes). Each row's checks
 * run first; then one statement commits the start (send_started_at / import_started_at) of
 * every row about to be called, and one transaction (onceEverMany) claims the wave's
 * once-ever keys, makes the calls at once and writes the delivered rows and the keys'
 * results together. Exactly-once as with one call at a time: a key's result commits only
 * with its row's outcome, a stored result is taken instead of calling, a failed call stores
 * nothing and backs off alone, and a call whose outcome was lost (even the whole wave's,
 * should its transaction fail after the calls) has its committed start: the next attempt
 * looks for it (findEarlierSend) or waits for Front's notice before calling again.
 */
import { sql, type Kysely } from 'kysely';
import type { Database, ServiceIntegration } from '../../db/schema.ts';
import type { FrontFile } from '../../providers/front/client.ts';
import { enqueueBackfill } from '../../engine/backfill-queue.ts';
import { coerceError, isDatabaseUnavailable, isSwitchboardError, messageForLog, SwitchboardError } from '../../engine/errors.ts';
import { onceEverMany } from '../../engine/idempotency.ts';
import { deliveries } from '../../metrics.ts';
import type { BackfillContext } from '../../engine/replicator.ts';
import { FrontChannelClient, type FrontImport } from '../../providers/front/client.ts';
import { ProviderHttpError } from '../../providers/http.ts';
import { awaitSlot, holdSends, reserveSendSlot } from '../../providers/send-rate.ts';
import { NotYet, type Transport } from './transport.ts';

const BATCH = 50;
/** WebhookDB's channel_sync_refreshness_cutoff. */
export const SYNC_CUTOFF_MS = 48 * 3_600_000;
/** Low, so an outage's backlog never waits long once the provider answers again (the breaker keeps retries cheap). */
const MAX_BACKOFF_MS = 30_000;
/**
 * Longer than this until a paced send's slot (beyond the turns of the lanes of two passes
 * sending from the number), the row backs off instead of its lane sleeping in a transaction.
 */
const MAX_SLOT_WAIT_MS = 2000;
/** Consecutive transient failures of one step after which a pass stops trying that step. */
const BREAKER = 3;

/** A pending row as deliver.ts reads it; other columns (the counterpart's, a channel's own) by name. */
export interface ChannelRow {
  pk: number;
  external_id: string;
  front_message_id: string | null;
  external_conversation_id: string | null;
  direction: string | null;
  body: string | null;
  sender: string | null;
  recipient: string | null;
  delivery_attempts: number;
  send_started_at: Date | null;
  import_started_at: Date | null;
  front_imported_id: string | null;
  row_created_at: Date;
  data: Record<string, unknown>;
  [column: string]: unknown;
}

export interface Delivery {
  ctx: BackfillContext;
  integration: ServiceIntegration;
  parent: ServiceIntegration;
  transport: Transport;
  front: FrontChannelClient;
  spec: ChannelSpec;
}

/** What differs between Front channels. */
export interface ChannelSpec {
  /** When the message was written, for the 48-hour cutoff and Front's delivered_at. */
  writtenAt(row: ChannelRow): Date;
  /** What Front gets for an import, and the once-ever key it goes under. */
  importPlan(
    delivery: Delivery,
    row: ChannelRow,
    writtenAt: Date,
  ): Promise<{ body: string; files: FrontFile[]; externalId: string; key: string; /** Shown by Front instead of the handle (a chatbot client's pseudonym). */ senderName?: string }>;
  /** Why this row's SMS must not go (e.g. no consent), or null. */
  smsRefusal?(delivery: Delivery, row: ChannelRow): Promise<string | null>;
  /**
   * Tell the counsellor an SMS was refused: store a notice row for the pass to import into
   * the conversation. Runs in the transaction that marks the reply skipped.
   */
  noticeOfRefusal?(db: Kysely<Database>, delivery: Delivery, row: ChannelRow, refusal: string): Promise<void>;
  /** What is wrong with a row that cannot be delivered as it is, or null. */
  invariant(row: ChannelRow): string | null;
}

/** Front's channel id is only known after Front's `authorization` request. */
class NotConnected extends Error {}

/** An earlier import's outcome is unknown: wait for Front's notice until `until`. */
class Held extends Error {
  readonly until: Date;
  constructor(until: Date) {
    super('waiting for Front to confirm an earlier import');
    this.until = until;
  }
}

export async function deliverPending(ctx: BackfillContext, integration: ServiceIntegration, spec: ChannelSpec, transport: Transport): Promise<void> {
  const parent = await ctx.db.selectFrom('service_integrations').selectAll().where('id', '=', integration.depends_on ?? -1).executeTakeFirst();
  if (!parent) throw new SwitchboardError('SB_ERR_NOT_CONNECTED', `the ${transport.dependsOn} integration this channel depends on is gone`);
  const delivery: Delivery = { ctx, integration, parent, transport, front: new FrontChannelClient(ctx.config.front), spec };
  const TABLE = sql.table(integration.service_name);

  const { rows: count } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM ${TABLE} WHERE integration_id = ${integration.id} AND delivery_status = 'pending'`.execute(ctx.db);
  await ctx.progress(0, count[0]?.n ?? 0);

  let cursor = 0;
  let waitingForChannel = 0;
  const failuresInARow: Record<Step, number> = { import: 0, send: 0 };
  const cleared = new Set<Step>();
  let breakerDelayMs: number | null = null;
  for (;;) {
    let rewind = false;
    const { rows } = await pendingBatch(integration, cursor).execute(ctx.db);
    if (rows.length === 0) break;
    cursor = rows.at(-1)!.pk;
    const lanes = lanesOf(rows);
    for (;;) {
      // Conversations go side by side, each in order: one row per lane per wave, and a lane's
      // next row waits for the wave of the one before, so a client's messages never overtake each other.
      const wave: ChannelRow[] = [];
      for (const lane of lanes) {
        if (wave.length === ctx.config.deliveryConcurrency) break;
        while (lane[0] && failuresInARow[stepOf(lane[0])] >= BREAKER) lane.shift();
        if (lane[0]) wave.push(lane.shift()!);
      }
      if (wave.length === 0) break;
      const results = await deliverWave(delivery, wave);
      for (const [i, result] of results.entries()) {
        const step = stepOf(wave[i]!);
        if (result.outcome === 'waiting-for-channel') waitingForChannel++;
        if (result.outcome === 'retry') {
          if (++failuresInARow[step] === BREAKER) {
            ctx.log.info({ integration_id: integration.id, step, delay_ms: Math.round(result.delayMs) }, 'provider looks down; its other rows wait for the next pass');
            breakerDelayMs = Math.min(breakerDelayMs ?? Infinity, result.delayMs);
          }
        } else if (result.outcome === 'done') {
          failuresInARow[step] = 0;
          if (!cleared.has(step)) {
            cleared.add(step);
            if ((await clearBackoff(delivery, step)) > 0) rewind = true;
          }
        }
      }
      await ctx.progress(wave.length);
    }
    // Rows whose back-off was just cleared lie behind the cursor: one more sweep takes them.
    if (rewind) cursor = 0;
  }
  await scheduleRetries(ctx, integration, breakerDelayMs);
  if (waitingForChannel > 0) {
    throw new SwitchboardError(
      'SB_ERR_NOT_CONNECTED',
      `${waitingForChannel} message(s) wait for the Front channel: connect the channel in Front (its authorization request sets the channel id)`,
    );
  }
}

/** A batch's rows by conversation (the client's number), each list in pk order. */
function lanesOf(rows: ChannelRow[]): ChannelRow[][] {
  const lanes = new Map<string, ChannelRow[]>();
  for (const row of rows) {
    const key = row.external_conversation_id ?? row.recipient ?? row.sender ?? `pk:${row.pk}`;
    const lane = lanes.get(key);
    if (lane) lane.push(row);
    else lanes.set(key, [row]);
  }
  return [...lanes.values()];
}

/** The next batch of rows due for delivery after `cursor` (served by the partial index on the pending condition). */
export function pendingBatch(integration: ServiceIntegration, cursor: number) {
  return sql<ChannelRow>`
    SELECT * FROM ${sql.table(integration.service_name)}
    WHERE integration_id = ${integration.id} AND delivery_status = 'pending' AND pk > ${cursor}
      AND (next_attempt_at IS NULL OR next_attempt_at <= now())
    ORDER BY pk LIMIT ${BATCH}`;
}

/**
 * Rows backing off get a pass when the first of them is due; rows a tripped breaker left
 * untouched, when the failure that tripped it said to try again.
 */
async function scheduleRetries(ctx: BackfillContext, integration: ServiceIntegration, breakerDelayMs: number | null): Promise<void> {
  const TABLE = sql.table(integration.service_name);
  const { rows } = await sql<{ seconds: number | null }>`
    SELECT extract(epoch FROM min(next_attempt_at) - now())::float8 AS seconds FROM ${TABLE}
    WHERE integration_id = ${integration.id} AND delivery_status = 'pending' AND next_attempt_at > now()`.execute(ctx.db);
  const seconds = Math.min(rows[0]?.seconds ?? Infinity, breakerDelayMs === null ? Infinity : breakerDelayMs / 1000);
  if (seconds === Infinity) return;
  await enqueueBackfill(ctx.db, [{ integration_id: integration.id, incremental: true, recursive: false, trigger: 'retry' }], {
    delaySeconds: Math.max(1, Math.ceil(seconds)),
  });
}

/** What a pending row needs next: its import into Front, or its reply's send. */
type Step = 'import' | 'send';
const stepOf = (row: Pick<ChannelRow, 'front_message_id'>): Step => (row.front_message_id === null ? 'import' : 'send');

/** The provider of this step answers again: its backing-off rows are due now. */
async function clearBackoff(delivery: Delivery, step: Step): Promise<number> {
  const result = await sql`
    UPDATE ${tableOf(delivery)} SET next_attempt_at = NULL
    WHERE integration_id = ${delivery.integration.id} AND delivery_status = 'pending' AND next_attempt_at > now()
      AND (front_message_id IS NULL) = ${step === 'import'}
      -- a held import waits for Front's notice, not for Front to answer again
      AND import_started_at IS NULL`.execute(delivery.ctx.db);
  return Number(result.numAffectedRows ?? 0);
}

const tableOf = (delivery: Delivery) => sql.table(delivery.integration.service_name);

type DeliveryResult = { outcome: 'done' | 'waiting-for-channel' | 'held' } | { outcome: 'retry'; delayMs: number };

/** What the stored result of a row's once-ever call holds: Front's id of an import, the provider's of a send. */
type CallResult = { message_uid: string } | { sid: string };

/** A row ready for its call to the outside world: its checks passed, nothing marked yet. */
interface Call {
  row: ChannelRow;
  step: Step;
  key: string;
  /** The external id Front's `message_imported` notice will name (imports only). */
  externalId: string | null;
  /** The call; its database work joins `trx`, the wave's transaction. */
  run(trx: Kysely<Database>): Promise<CallResult>;
}

/**
 * Deliver one wave: every row's own checks at once, then the calls of those that passed
 * together (callAll); a row's failure, in its checks or its call, is its own (settle).
 */
async function deliverWave(delivery: Delivery, rows: ChannelRow[]): Promise<DeliveryResult[]> {
  const prepared = await Promise.allSettled(rows.map((row) => prepare(delivery, row)));
  const calls = prepared.flatMap((p) => (p.status === 'fulfilled' && p.value ? [p.value] : []));
  let failures = new Map<ChannelRow, unknown>();
  if (calls.length > 0) {
    try {
      failures = await callAll(delivery, calls);
    } catch (error) {
      // The wave's statements failed (the database): every call may have gone; each row's start says to look first.
      for (const call of calls) failures.set(call.row, error);
    }
  }
  prepared.forEach((p, i) => {
    if (p.status === 'rejected') failures.set(rows[i]!, p.reason);
  });
  const settled = await Promise.allSettled(
    rows.map(async (row): Promise<DeliveryResult> => (failures.has(row) ? settle(delivery, row, failures.get(row)) : { outcome: 'done' })),
  );
  // Every row is settled before this returns, even when one stops the pass.
  const stopped = settled.find((r) => r.status === 'rejected');
  if (stopped) throw stopped.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<DeliveryResult>).value);
}

/**
 * The calls of a wave, at most one per conversation and at most deliveryConcurrency: the
 * start of each is committed first, in one statement, right before the calls go (so a row
 * is never marked long before its call: own-sends.ts adopts a status callback for the
 * newest started row of a sender, recipient and body); then their once-ever keys, the calls
 * and the rows' outcomes share one transaction. What each call threw, by row.
 */
async function callAll(delivery: Delivery, calls: Call[]): Promise<Map<ChannelRow, unknown>> {
  const { ctx, integration } = delivery;
  const TABLE = tableOf(delivery);
  // Keys come from the rows' external ids, unique in a table; should two calls share one anyway, the second waits for the first's result.
  const keys = new Set<string>();
  const now = calls.filter((call) => !keys.has(call.key) && keys.add(call.key));
  const later = calls.filter((call) => !now.includes(call));
  // Committed before anything can reach the provider or Front: after a crash or a lost
  // answer, the next attempt knows to look for the send, or to wait for Front's notice.
  await sql`
    UPDATE ${TABLE} AS t SET
      send_started_at = CASE WHEN v.step = 'send' THEN now() ELSE t.send_started_at END,
      import_started_at = CASE WHEN v.step = 'import' THEN now() ELSE t.import_started_at END,
      import_external_id = COALESCE(v.external_id, t.import_external_id)
    FROM unnest(${now.map((c) => c.row.pk)}::bigint[], ${now.map((c) => c.step)}::text[], ${now.map((c) => c.externalId)}::text[])
      AS v(pk, step, external_id)
    WHERE t.pk = v.pk`.execute(ctx.db);
  const settled = await onceEverMany(
    ctx.db,
    now.map((call) => ({ key: call.key, call: call.run })),
    (trx, settled) =>
      finishAll(
        delivery,
        now.flatMap((call, i) => {
          const outcome = settled[i]!;
          if (!outcome.ok) return [];
          const ids = 'sid' in outcome.result ? { counterpartId: outcome.result.sid } : { frontMessageId: outcome.result.message_uid };
          return [{ row: call.row, outcome: { status: 'delivered' as const, ...ids } }];
        }),
        trx,
      ),
    String(integration.id),
  );
  const failures = new Map(now.flatMap((call, i) => {
    const outcome = settled[i]!;
    return outcome.ok ? [] : [[call.row, outcome.error] as const];
  }));
  // Front answered (429, 4xx, 5xx): it did not take the message, nothing to wait for. Only
  // an import that got no answer at all may have happened.
  const refusedImports = now.filter((c) => {
    const error = failures.get(c.row);
    return c.step === 'import' && error instanceof ProviderHttpError && error.httpStatus !== null;
  });
  if (refusedImports.length > 0) {
    await sql`UPDATE ${TABLE} SET import_started_at = NULL WHERE pk = ANY(${refusedImports.map((c) => c.row.pk)}::bigint[])`.execute(ctx.db);
  }
  if (later.length > 0) for (const [row, error] of await callAll(delivery, later)) failures.set(row, error);
  return failures;
}

/** What a row's failure means: not yet, held, parked, backing off, or the whole pass stops (thrown). */
async function settle(delivery: Delivery, row: ChannelRow, thrown: unknown): Promise<DeliveryResult> {
  const { ctx } = delivery;
  const TABLE = tableOf(delivery);
  if (thrown instanceof NotConnected) return { outcome: 'waiting-for-channel' };
  if (thrown instanceof Held) {
    // Unless the notice came meanwhile: then the next pass (which it asked for) adopts it.
    await sql`
      UPDATE ${TABLE} SET next_attempt_at = CASE WHEN front_imported_id IS NULL THEN ${thrown.until}::timestamptz END
      WHERE pk = ${row.pk} AND delivery_status = 'pending'`.execute(ctx.db);
    return { outcome: 'held' };
  }
  if (thrown instanceof NotYet) {
    ctx.log.info({ pk: row.pk, until: thrown.until, reason: thrown.message }, 'delivery waits');
    await sql`UPDATE ${TABLE} SET next_attempt_at = ${thrown.until}::timestamptz WHERE pk = ${row.pk} AND delivery_status = 'pending'`.execute(ctx.db);
    return { outcome: 'held' };
  }
  const error = coerceError(thrown);
  // Problems of the whole integration stop the pass and show on it; rows stay pending.
  if (isDatabaseUnavailable(error) || (isSwitchboardError(error) && error.code === 'SB_ERR_PROVIDER_AUTH')) throw error;
  if (error instanceof ProviderHttpError && error.httpStatus === null && !error.retryable) throw error;
  // The provider refused this message (coded 4xx), or the row cannot be sent as it is: park it.
  if (isSwitchboardError(error) && !error.retryable) {
    const code = error instanceof ProviderHttpError ? (error.providerCode ?? `HTTP_${error.httpStatus}`) : error.code;
    ctx.log.warn({ pk: row.pk, code }, 'delivery failed permanently');
    await finish(delivery, row, { status: 'failed', code, message: error.message });
    return { outcome: 'done' };
  }
  // The provider's word on when to send again holds for every worker sending from the same place.
  const rate = stepOf(row) === 'send' ? delivery.transport.sendRate?.(delivery, row) : undefined;
  if (rate && error instanceof ProviderHttpError && error.httpStatus === 429) await holdSends(ctx.db, rate.bucket, error.retryAfterMs ?? 1000);
  const backoff = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** row.delivery_attempts) * (0.75 + Math.random() * 0.5);
  const delayMs = Math.max(error instanceof ProviderHttpError ? (error.retryAfterMs ?? 0) : 0, backoff);
  ctx.log.info({ pk: row.pk, attempt: row.delivery_attempts + 1, delay_ms: Math.round(delayMs), err: messageForLog(error) }, 'delivery will be retried');
  deliveries.inc({ service: delivery.integration.service_name, outcome: 'retry' });
  // An import that may have happened waits at least for its hold (GREATEST skips NULL),
  // unless Front's notice already came.
  await sql`
    UPDATE ${TABLE} SET delivery_attempts = delivery_attempts + 1, delivery_error_message = ${error.message},
      next_attempt_at = CASE WHEN front_imported_id IS NULL THEN GREATEST(
        now() + make_interval(secs => ${delayMs / 1000}),
        import_started_at + make_interval(secs => ${ctx.config.front.importHoldMs / 1000})) END
    WHERE pk = ${row.pk} AND delivery_status = 'pending'`.execute(ctx.db);
  return { outcome: 'retry', delayMs };
}

type Outcome =
  | { status: 'delivered'; frontMessageId?: string; counterpartId?: string }
  | { status: 'skipped'; frontMessageId?: string; counterpartId?: string; message: string }
  | { status: 'failed'; code: string; message: string };

/**
 * Write rows' outcomes in one statement; a counterpart id only where none was written
 * meanwhile. Inside the wave's transaction (`db`) they commit with the calls' results.
 */
async function finishAll(delivery: Delivery, finished: { row: ChannelRow; outcome: Outcome }[], db: Kysely<Database> = delivery.ctx.db): Promise<void> {
  if (finished.length === 0) return;
  for (const { outcome } of finished) deliveries.inc({ service: delivery.integration.service_name, outcome: outcome.status });
  const ids = (outcome: Outcome): { frontMessageId?: string; counterpartId?: string } => ('code' in outcome ? {} : outcome);
  const column = delivery.transport.counterpartColumn;
  await sql`
    UPDATE ${tableOf(delivery)} AS t SET
      front_message_id = COALESCE(t.front_message_id, v.front_message_id),
      ${sql.ref(column)} = COALESCE(${sql.ref(`t.${column}`)}, v.counterpart_id),
      delivery_status = v.status,
      delivery_error_code = v.code,
      delivery_error_message = v.message,
      delivered_at = CASE WHEN v.status = 'delivered' THEN now() END,
      next_attempt_at = NULL,
      row_updated_at = now()
    FROM unnest(
      ${finished.map((f) => f.row.pk)}::bigint[],
      ${finished.map((f) => ids(f.outcome).frontMessageId ?? null)}::text[],
      ${finished.map((f) => ids(f.outcome).counterpartId ?? null)}::text[],
      ${finished.map((f) => f.outcome.status)}::text[],
      ${finished.map((f) => ('code' in f.outcome ? f.outcome.code : null))}::text[],
      ${finished.map((f) => ('message' in f.outcome ? f.outcome.message : null))}::text[]
    ) AS v(pk, front_message_id, counterpart_id, status, code, message)
    WHERE t.pk = v.pk AND t.delivery_status = 'pending'`.execute(db);
}

const finish = (delivery: Delivery, row: ChannelRow, outcome: Outcome, db?: Kysely<Database>) => finishAll(delivery, [{ row, outcome }], db);

/** A row's own checks, in order; null when they settled it (finished) without a call. */
async function prepare(delivery: Delivery, row: ChannelRow): Promise<Call | null> {
  const broken = delivery.spec.invariant(row);
  if (broken) {
    // WebhookDB raised here and lost the rest of the page; we park the row.
    await finish(delivery, row, { status: 'failed', code: 'SB_ERR_INVARIANT', message: broken });
    return null;
  }
  return row.front_message_id === null ? prepareImport(delivery, row) : prepareSend(delivery, row);
}

async function prepareImport(delivery: Delivery, row: ChannelRow): Promise<Call | null> {
  const { ctx, integration } = delivery;
  // Front's notice says an earlier import whose answer we lost did happen: adopt it.
  if (row.front_imported_id) {
    await finish(delivery, row, { status: 'delivered', frontMessageId: row.front_imported_id });
    return null;
  }
  if (row.import_started_at) {
    const until = new Date(row.import_started_at.getTime() + ctx.config.front.importHoldMs);
    if (until.getTime() > Date.now()) throw new Held(until);
  }
  const channelId = integration.backfill_key;
  if (!channelId) throw new NotConnected();
  const writtenAt = delivery.spec.writtenAt(row);
  if (Date.now() - writtenAt.getTime() > SYNC_CUTOFF_MS) {
    await finish(delivery, row, { status: 'skipped', frontMessageId: 'skipped_due_to_age', message: 'older than 48 hours' });
    return null;
  }
  const direction = row.direction;
  if (direction !== 'inbound' && direction !== 'outbound') {
    await finish(delivery, row, { status: 'failed', code: 'SB_ERR_INVARIANT', message: `direction ${direction} cannot be imported` });
    return null;
  }
  const plan = await delivery.spec.importPlan(delivery, row, writtenAt);
  const message: FrontImport = {
    body: plan.body,
    delivered_at: Math.floor(writtenAt.getTime() / 1000),
    metadata: { external_id: plan.externalId, external_conversation_id: row.external_conversation_id ?? '' },
    ...(direction === 'inbound'
      ? { sender: { handle: row.sender ?? '', ...(plan.senderName ? { name: plan.senderName } : {}) } }
      : { to: [{ handle: row.recipient ?? '' }] }),
  };
  return {
    row,
    step: 'import',
    key: plan.key,
    externalId: plan.externalId,
    run: async () => ({ message_uid: (await delivery.front.importMessage(channelId, direction, message, plan.files)).message_uid }),
  };
}

async function prepareSend(delivery: Delivery, row: ChannelRow): Promise<Call | null> {
  const { ctx, transport } = delivery;
  const payload = (row.data.payload ?? {}) as { created_at?: unknown };
  const messagedAt = typeof payload.created_at === 'number' ? new Date(payload.created_at * 1000) : row.row_created_at;
  if (Date.now() - messagedAt.getTime() > SYNC_CUTOFF_MS) {
    await finish(delivery, row, { status: 'skipped', counterpartId: 'skipped_due_to_age', message: 'older than 48 hours' });
    return null;
  }
  const refused = await transport.refusal(delivery, row);
  if (refused) {
    await finish(delivery, row, { status: 'skipped', counterpartId: refused.marker, message: refused.message });
    return null;
  }
  const refusal = (await delivery.spec.smsRefusal?.(delivery, row)) ?? null;
  if (refusal) {
    const notice = delivery.spec.noticeOfRefusal;
    if (!notice) await finish(delivery, row, { status: 'skipped', message: refusal });
    else {
      await ctx.db.transaction().execute(async (trx) => {
        await finish(delivery, row, { status: 'skipped', message: refusal }, trx);
        await notice(trx, delivery, row, refusal);
      });
    }
    return null;
  }
  const rate = transport.sendRate?.(delivery, row);
  // Reserved before the wave's transaction (a call never holds a second connection for it), waited for inside it.
  const slot = rate ? await reserveSendSlot(ctx.db, rate.bucket, rate.perSecond) : null;
  if (slot && slot.waitMs > MAX_SLOT_WAIT_MS + (2 * ctx.config.deliveryConcurrency * 1000) / rate!.perSecond) {
    // Held back (a Retry-After, or a long queue for the number): the row waits, not the wave.
    throw new ProviderHttpError({
      provider: rate!.bucket.split(':')[0]!,
      message: `sends paced: the next slot is in ${Math.ceil(slot.waitMs / 1000)} s (${rate!.perSecond}/s)`,
      httpStatus: null,
      retryAfterMs: slot.waitMs,
      retryable: true,
    });
  }
  return {
    row,
    step: 'send',
    key: transport.sendKey(row),
    externalId: null,
    run: async (trx) => {
      // An earlier attempt may have reached the provider without us hearing back: look first.
      const earlier = row.send_started_at ? await transport.findEarlierSend(delivery, row, row.send_started_at, trx) : null;
      if (!earlier && slot) await awaitSlot(slot);
      return { sid: earlier ?? (await transport.send(delivery, row, trx)) };
    },
  };
}
