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
 */
import { sql, type Kysely } from 'kysely';
import type { Database, ServiceIntegration } from '../../db/schema.ts';
import type { FrontFile } from '../../providers/front/client.ts';
import { enqueueBackfill } from '../../engine/backfill-queue.ts';
import { coerceError, isDatabaseUnavailable, isSwitchboardError, messageForLog, SwitchboardError } from '../../engine/errors.ts';
import { onceEver } from '../../engine/idempotency.ts';
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
  let waitingForChannel = false;
  const failuresInARow: Record<Step, number> = { import: 0, send: 0 };
  const cleared = new Set<Step>();
  /** Steps this pass no longer tries (their provider looks down, or Front's channel is not connected): their rows are not read again. */
  const stopped = new Set<Step>();
  let breakerDelayMs: number | null = null;
  let finishedSinceRewind = 0;
  for (;;) {
    let rewind = false;
    const { rows } = await pendingBatch(integration, cursor, stopped).execute(ctx.db);
    if (rows.length === 0) break;
    cursor = rows.at(-1)!.pk;
    // Conversations go side by side, each in order: a client's messages never overtake each other.
    await eachConcurrently(lanesOf(rows), ctx.config.deliveryConcurrency, async (lane) => {
      for (const row of lane) {
        const step = stepOf(row);
        if (stopped.has(step)) continue;
        const result = await deliverOne(delivery, row);
        if (result.outcome === 'waiting-for-channel') {
          waitingForChannel = true;
          stopped.add(step);
        }
        if (result.outcome === 'retry') {
          if (++failuresInARow[step] === BREAKER) {
            ctx.log.info({ integration_id: integration.id, step, delay_ms: Math.round(result.delayMs) }, 'provider looks down; its other rows wait for the next pass');
            breakerDelayMs = Math.min(breakerDelayMs ?? Infinity, result.delayMs);
            stopped.add(step);
          }
        } else if (result.outcome === 'done') {
          finishedSinceRewind++;
          failuresInARow[step] = 0;
          if (!cleared.has(step)) {
            cleared.add(step);
            if ((await clearBackoff(delivery, step)) > 0) rewind = true;
          }
        }
        await ctx.progress(1);
      }
    });
    // Rows whose back-off was just cleared lie behind the cursor: one more sweep takes them.
    // So may rows committed after the cursor passed their pk (a pk is taken before its
    // transaction commits, so commits land out of pk order): once caught up, sweep again from
    // the start. Only after rows were finished, so a pass never circles over rows it cannot move.
    if (rewind || (rows.length < BATCH && finishedSinceRewind > 0)) {
      cursor = 0;
      finishedSinceRewind = 0;
    }
  }
  await scheduleRetries(ctx, integration, breakerDelayMs);
  if (waitingForChannel) {
    const { rows: waiting } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM ${TABLE} WHERE integration_id = ${integration.id} AND delivery_status = 'pending' AND front_message_id IS NULL`.execute(ctx.db);
    throw new SwitchboardError(
      'SB_ERR_NOT_CONNECTED',
      `${waiting[0]?.n ?? 0} message(s) wait for the Front channel: connect the channel in Front (its authorization request sets the channel id)`,
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

/** Run `work` over `items`, at most `limit` at a time. */
async function eachConcurrently<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  // Every lane ends before this returns, even when one throws: a pass never ends with a lane still sending.
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** The next batch of rows due for delivery after `cursor`, but for `stopped` steps' (served by the partial index on the pending condition). */
export function pendingBatch(integration: ServiceIntegration, cursor: number, stopped: ReadonlySet<Step> = new Set()) {
  return sql<ChannelRow>`
    SELECT * FROM ${sql.table(integration.service_name)}
    WHERE integration_id = ${integration.id} AND delivery_status = 'pending' AND pk > ${cursor}
      AND (next_attempt_at IS NULL OR next_attempt_at <= now())
      ${stopped.has('import') ? sql`AND front_message_id IS NOT NULL` : sql``}
      ${stopped.has('send') ? sql`AND front_message_id IS NULL` : sql``}
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

async function deliverOne(delivery: Delivery, row: ChannelRow): Promise<DeliveryResult> {
  const { ctx } = delivery;
  const TABLE = tableOf(delivery);
  try {
    const broken = delivery.spec.invariant(row);
    if (broken) {
      // WebhookDB raised here and lost the rest of the page; we park the row.
      await finish(delivery, row, { status: 'failed', code: 'SB_ERR_INVARIANT', message: broken });
    } else if (row.front_message_id === null) {
      await importIntoFront(delivery, row);
    } else {
      await sendReply(delivery, row);
    }
    return { outcome: 'done' };
  } catch (thrown) {
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
}

type Outcome =
  | { status: 'delivered'; frontMessageId?: string; counterpartId?: string }
  | { status: 'skipped'; frontMessageId?: string; counterpartId?: string; message: string }
  | { status: 'failed'; code: string; message: string };

/**
 * Write the outcome; the counterpart id only where none was written meanwhile. Inside an
 * idempotent call (`db` its transaction) it commits together with the call's result.
 */
async function finish(delivery: Delivery, row: ChannelRow, outcome: Outcome, db: Kysely<Database> = delivery.ctx.db): Promise<void> {
  const TABLE = tableOf(delivery);
  deliveries.inc({ service: delivery.integration.service_name, outcome: outcome.status });
  const ids: { frontMessageId?: string; counterpartId?: string } = 'code' in outcome ? {} : outcome;
  const counterpart = sql.ref(delivery.transport.counterpartColumn);
  await sql`
    UPDATE ${TABLE} SET
      front_message_id = COALESCE(front_message_id, ${ids.frontMessageId ?? null}),
      ${counterpart} = COALESCE(${counterpart}, ${ids.counterpartId ?? null}),
      delivery_status = ${outcome.status},
      delivery_error_code = ${'code' in outcome ? outcome.code : null},
      delivery_error_message = ${'message' in outcome ? outcome.message : null},
      delivered_at = CASE WHEN ${outcome.status} = 'delivered' THEN now() END,
      next_attempt_at = NULL,
      row_updated_at = now()
    WHERE pk = ${row.pk} AND delivery_status = 'pending'`.execute(db);
}

async function importIntoFront(delivery: Delivery, row: ChannelRow): Promise<void> {
  const { ctx, integration } = delivery;
  // Front's notice says an earlier import whose answer we lost did happen: adopt it.
  if (row.front_imported_id) return finish(delivery, row, { status: 'delivered', frontMessageId: row.front_imported_id });
  if (row.import_started_at) {
    const until = new Date(row.import_started_at.getTime() + ctx.config.front.importHoldMs);
    if (until.getTime() > Date.now()) throw new Held(until);
  }
  const channelId = integration.backfill_key;
  if (!channelId) throw new NotConnected();
  const writtenAt = delivery.spec.writtenAt(row);
  if (Date.now() - writtenAt.getTime() > SYNC_CUTOFF_MS) {
    return finish(delivery, row, { status: 'skipped', frontMessageId: 'skipped_due_to_age', message: 'older than 48 hours' });
  }
  if (row.direction !== 'inbound' && row.direction !== 'outbound') {
    return finish(delivery, row, { status: 'failed', code: 'SB_ERR_INVARIANT', message: `direction ${row.direction} cannot be imported` });
  }
  const plan = await delivery.spec.importPlan(delivery, row, writtenAt);
  const message: FrontImport = {
    body: plan.body,
    delivered_at: Math.floor(writtenAt.getTime() / 1000),
    metadata: { external_id: plan.externalId, external_conversation_id: row.external_conversation_id ?? '' },
    ...(row.direction === 'inbound'
      ? { sender: { handle: row.sender ?? '', ...(plan.senderName ? { name: plan.senderName } : {}) } }
      : { to: [{ handle: row.recipient ?? '' }] }),
  };
  // Committed before anything can reach Front: if no answer comes, we know to wait for Front's notice.
  await sql`UPDATE ${tableOf(delivery)} SET import_started_at = now(), import_external_id = ${plan.externalId} WHERE pk = ${row.pk}`.execute(ctx.db);
  try {
    const { result, ran } = await onceEver(
      ctx.db,
      plan.key,
      async (trx) => {
        const imported = await delivery.front.importMessage(channelId, row.direction as 'inbound' | 'outbound', message, plan.files);
        await finish(delivery, row, { status: 'delivered', frontMessageId: imported.message_uid }, trx);
        return imported;
      },
      String(integration.id),
    );
    if (!ran) await finish(delivery, row, { status: 'delivered', frontMessageId: result.message_uid });
  } catch (error) {
    // Front answered (429, 4xx, 5xx): it did not take the message, nothing to wait for.
    // Only an import that got no answer at all may have happened.
    if (error instanceof ProviderHttpError && error.httpStatus !== null) {
      await sql`UPDATE ${tableOf(delivery)} SET import_started_at = NULL WHERE pk = ${row.pk}`.execute(ctx.db);
    }
    throw error;
  }
}

async function sendReply(delivery: Delivery, row: ChannelRow): Promise<void> {
  const { ctx, transport } = delivery;
  const payload = (row.data.payload ?? {}) as { created_at?: unknown };
  const messagedAt = typeof payload.created_at === 'number' ? new Date(payload.created_at * 1000) : row.row_created_at;
  if (Date.now() - messagedAt.getTime() > SYNC_CUTOFF_MS) {
    return finish(delivery, row, { status: 'skipped', counterpartId: 'skipped_due_to_age', message: 'older than 48 hours' });
  }
  const refused = await transport.refusal(delivery, row);
  if (refused) return finish(delivery, row, { status: 'skipped', counterpartId: refused.marker, message: refused.message });
  const refusal = (await delivery.spec.smsRefusal?.(delivery, row)) ?? null;
  if (refusal) {
    const notice = delivery.spec.noticeOfRefusal;
    if (!notice) return finish(delivery, row, { status: 'skipped', message: refusal });
    return ctx.db.transaction().execute(async (trx) => {
      await finish(delivery, row, { status: 'skipped', message: refusal }, trx);
      await notice(trx, delivery, row, refusal);
    });
  }
  const rate = transport.sendRate?.(delivery, row);
  // Reserved before the lane's transaction (a lane never holds two connections), waited for inside it.
  const slot = rate ? await reserveSendSlot(ctx.db, rate.bucket, rate.perSecond) : null;
  if (slot && slot.waitMs > MAX_SLOT_WAIT_MS + (2 * ctx.config.deliveryConcurrency * 1000) / rate!.perSecond) {
    // Held back (a Retry-After, or a long queue for the number): the row waits, not the lane.
    throw new ProviderHttpError({
      provider: rate!.bucket.split(':')[0]!,
      message: `sends paced: the next slot is in ${Math.ceil(slot.waitMs / 1000)} s (${rate!.perSecond}/s)`,
      httpStatus: null,
      retryAfterMs: slot.waitMs,
      retryable: true,
    });
  }
  // Committed before anything can reach the provider: after a crash, the next attempt knows to look first.
  await sql`UPDATE ${tableOf(delivery)} SET send_started_at = now() WHERE pk = ${row.pk}`.execute(ctx.db);
  const { result, ran } = await onceEver(ctx.db, transport.sendKey(row), async (trx) => {
    // An earlier attempt may have reached the provider without us hearing back: look first.
    const earlier = row.send_started_at ? await transport.findEarlierSend(delivery, row, row.send_started_at, trx) : null;
    if (!earlier && slot) await awaitSlot(slot);
    const id = earlier ?? (await transport.send(delivery, row, trx));
    await finish(delivery, row, { status: 'delivered', counterpartId: id }, trx);
    return { sid: id };
  }, String(delivery.integration.id));
  if (!ran) await finish(delivery, row, { status: 'delivered', counterpartId: result.sid });
}
