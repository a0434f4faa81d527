/**
 * The password-guessing defence of `POST token/`: wrong credentials are counted per client
 * address and per integration (all addresses together) in a window of
 * SWITCHBOARD_CHATBOT_LOGIN_WINDOW_S (15 minutes), in Postgres (chatbot_token_attempts) so
 * that every server process shares the counts. Past a limit the request is refused with 429
 * before the password is checked, until the window that reached it ends. An address that
 * signed in lately (the bot's usual one) is spared the integration-wide limit, so strangers'
 * guesses cannot lock the bot out; it still has its own per-address limit.
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';

/** Wrong tries one address gets per window: enough for a mistyped password in a flow and its fixes. */
export const FAILURES_PER_ADDRESS = 10;
/** Wrong tries per window from all addresses together: slows a guesser spread over many addresses. */
export const FAILURES_PER_INTEGRATION = 100;
/** An address that signed in this recently is the bot's: the integration-wide limit does not apply to it. */
const KNOWN_ADDRESS_DAYS = 30;
/** The integration-wide count's row. */
const ALL = '*';

/**
 * allowed: the password may be checked; `reaches` names the limit this attempt reaches if it
 * fails (for the one log line of a lockout). Else the 429's Retry-After and which limit.
 */
export type Attempt =
  | { allowed: true; reaches: 'address' | 'integration' | null }
  | { allowed: false; retryAfterSeconds: number; scope: 'address' | 'integration' };

/**
 * Count an attempt before the password is checked (so a burst of parallel guesses is counted
 * too) and say whether it may go on. `windowSeconds`: the config's window.
 */
export async function beginAttempt(db: Kysely<Database>, integrationId: number, address: string, windowSeconds: number): Promise<Attempt> {
  const window = sql`make_interval(secs => ${windowSeconds})`;
  const { rows } = await sql<{ address: string; failures: number; retry_after: number; known: boolean }>`
    INSERT INTO chatbot_token_attempts AS a (integration_id, address, failures, window_start)
    VALUES (${integrationId}, ${address}, 1, now()), (${integrationId}, ${ALL}, 1, now())
    ON CONFLICT (integration_id, address) DO UPDATE SET
      failures = CASE WHEN a.window_start > now() - ${window} THEN a.failures + 1 ELSE 1 END,
      window_start = CASE WHEN a.window_start > now() - ${window} THEN a.window_start ELSE now() END
    RETURNING address, failures, greatest(1, ceil(extract(epoch FROM window_start + ${window} - now())))::int AS retry_after,
      COALESCE(last_success_at > now() - make_interval(days => ${KNOWN_ADDRESS_DAYS}), false) AS known`.execute(db);
  // Forget other addresses gone quiet, so guessers from many addresses cannot grow the table
  // without bound; rows another request holds are left for later (no waiting, no deadlock).
  await sql`
    DELETE FROM chatbot_token_attempts WHERE (integration_id, address) IN (
      SELECT integration_id, address FROM chatbot_token_attempts
      WHERE integration_id = ${integrationId} AND address NOT IN (${address}, ${ALL}) AND window_start < now() - ${window}
        AND (last_success_at IS NULL OR last_success_at < now() - make_interval(days => ${KNOWN_ADDRESS_DAYS}))
      FOR UPDATE SKIP LOCKED)`.execute(db);
  const own = rows.find((r) => r.address === address)!;
  const all = rows.find((r) => r.address === ALL)!;
  if (own.failures > FAILURES_PER_ADDRESS) return { allowed: false, retryAfterSeconds: own.retry_after, scope: 'address' };
  if (all.failures > FAILURES_PER_INTEGRATION && !own.known) return { allowed: false, retryAfterSeconds: all.retry_after, scope: 'integration' };
  const reaches = own.failures === FAILURES_PER_ADDRESS ? 'address' : all.failures === FAILURES_PER_INTEGRATION ? 'integration' : null;
  return { allowed: true, reaches };
}

/** The credentials were right, so the attempt was no failure: the address's count starts again and it is known. */
export async function attemptSucceeded(db: Kysely<Database>, integrationId: number, address: string): Promise<void> {
  // One row per statement: holding both locks in another order than beginAttempt's could deadlock with it.
  await sql`UPDATE chatbot_token_attempts SET failures = 0, last_success_at = now() WHERE integration_id = ${integrationId} AND address = ${address}`.execute(db);
  await sql`UPDATE chatbot_token_attempts SET failures = greatest(failures - 1, 0) WHERE integration_id = ${integrationId} AND address = ${ALL}`.execute(db);
}
