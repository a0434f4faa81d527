/**
 * Sends paced to a provider's limit, shared by every worker: each send reserves its
 * bucket's next slot in Postgres (one statement: the slot is the later of now and the
 * previous slot, plus the interval), prepares the send, and waits for the slot just before
 * the call, so the time the preparation takes does not bunch the calls. Sends are spaced
 * evenly rather than allowed in bursts, since providers count any one-second window. A 429's
 * Retry-After moves the bucket's next slot past it, so every worker holds back, not only
 * the one that was refused.
 */
import { sql, type Kysely } from 'kysely';

/** Sends go this much wider apart than the rate (50 ms a second): the provider counts arrivals, which jitter bunches. */
const JITTER_MARGIN = 1.05;

const intervalMs = (perSecond: number) => (1000 / perSecond) * JITTER_MARGIN;

export interface SendSlot {
  /** How long after the reservation the send may go (ms). */
  waitMs: number;
  /** When it may go (epoch ms, this process's clock). */
  at: number;
}

/**
 * Reserve the bucket's next send slot (`awaitSlot` it right before the call). Not worth a
 * WAL flush: a reservation lost in a crash only spaces the next sends less.
 */
export async function reserveSendSlot(db: Kysely<any>, bucket: string, perSecond: number): Promise<SendSlot> {
  const interval = intervalMs(perSecond);
  const { rows } = await sql<{ wait_ms: number }>`
    INSERT INTO provider_send_slots AS s (bucket, next_at)
    SELECT ${bucket}, clock_timestamp() + make_interval(secs => ${interval / 1000})
    FROM (SELECT set_config('synchronous_commit', 'off', true)) AS relaxed
    ON CONFLICT (bucket) DO UPDATE SET next_at = GREATEST(s.next_at, clock_timestamp()) + make_interval(secs => ${interval / 1000})
    RETURNING GREATEST(0, EXTRACT(EPOCH FROM s.next_at - clock_timestamp()) * 1000 - ${interval})::float8 AS wait_ms`.execute(db);
  const waitMs = rows[0]?.wait_ms ?? 0;
  return { waitMs, at: Date.now() + waitMs };
}

export async function awaitSlot(slot: SendSlot): Promise<void> {
  const wait = slot.at - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

/** The provider said to wait (Retry-After): no send of the bucket before then. */
export async function holdSends(db: Kysely<any>, bucket: string, ms: number): Promise<void> {
  await sql`
    INSERT INTO provider_send_slots AS s (bucket, next_at) VALUES (${bucket}, clock_timestamp() + make_interval(secs => ${ms / 1000}))
    ON CONFLICT (bucket) DO UPDATE SET next_at = GREATEST(s.next_at, EXCLUDED.next_at)`.execute(db);
}
