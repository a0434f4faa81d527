/**
 * Who may open the dashboard: the holder of SWITCHBOARD_ADMIN_TOKEN (compared in constant
 * time) or of a token issued by `switchboard admin-token` (stored as a SHA-256 hash, like
 * integration API keys). There is no token-less mode: with none configured, the dashboard
 * answers 401 and says how to get one.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { sendError } from '../http/reply-error.ts';
import { safeEqual } from '../providers/safe-equal.ts';

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** A new token, stored hashed; the only time it is seen in full. */
export async function issueAdminToken(db: Kysely<Database>, label: string | null): Promise<string> {
  const token = `sbadm_${randomBytes(32).toString('base64url')}`;
  await db.insertInto('admin_tokens').values({ token_hash: hashToken(token), label }).execute();
  return token;
}

/** Remove every issued token (the environment's token is not in the database). */
export async function revokeAdminTokens(db: Kysely<Database>): Promise<number> {
  const result = await db.deleteFrom('admin_tokens').executeTakeFirst();
  return Number(result.numDeletedRows);
}

export async function isAdminToken(db: Kysely<Database>, envToken: string | undefined, token: string): Promise<boolean> {
  if (envToken && safeEqual(token, envToken)) return true;
  if (!token.startsWith('sbadm_')) return false;
  const found = await db.selectFrom('admin_tokens').select(['id', 'last_used_at']).where('token_hash', '=', hashToken(token)).executeTakeFirst();
  if (!found) return false;
  // The page polls every few seconds: note the use at most once a minute, not on every read.
  if (!found.last_used_at || Date.now() - found.last_used_at.getTime() > 60_000) {
    await db.updateTable('admin_tokens').set({ last_used_at: sql<Date>`now()` }).where('id', '=', found.id).execute();
  }
  return true;
}

/** Wrong tokens one address may try in a minute; the next waits out ADMIN_LOCKOUT_MS. */
export const ADMIN_ATTEMPTS_PER_MINUTE = 10;
/** Short, so the holder of the right token sharing the address is kept out a minute at most. */
export const ADMIN_LOCKOUT_MS = 60_000;

/**
 * Wrong-token attempts per client address, in Postgres (admin_token_attempts) so every web
 * process shares one count: a guesser gets ten a minute whichever process it reaches.
 */
const attempts = {
  /** Milliseconds until `address` may try again (0: now), and whether it has a count to clear on success. */
  async lockedFor(db: Kysely<Database>, address: string): Promise<{ waitMs: number; counted: boolean }> {
    const row = await db
      .selectFrom('admin_token_attempts')
      .select(sql<number>`greatest(0, ceil(extract(epoch FROM locked_until - now()) * 1000))::int`.as('wait_ms'))
      .where('address', '=', address)
      .executeTakeFirst();
    return { waitMs: row?.wait_ms ?? 0, counted: row !== undefined };
  },

  /** Counts a failure in the address's minute; the tenth locks it out and starts a new count. */
  async fail(db: Kysely<Database>, address: string): Promise<void> {
    const fresh = sql<boolean>`admin_token_attempts.window_start <= now() - interval '1 minute'`;
    const failures = sql<number>`CASE WHEN ${fresh} THEN 1 ELSE admin_token_attempts.failures + 1 END`;
    await db
      .insertInto('admin_token_attempts')
      .values({ address, failures: 1, window_start: sql`now()`, locked_until: null })
      .onConflict((oc) =>
        oc.column('address').doUpdateSet({
          failures: sql`CASE WHEN ${failures} >= ${ADMIN_ATTEMPTS_PER_MINUTE} THEN 0 ELSE ${failures} END`,
          window_start: sql`CASE WHEN ${fresh} OR ${failures} >= ${ADMIN_ATTEMPTS_PER_MINUTE} THEN now() ELSE admin_token_attempts.window_start END`,
          locked_until: sql`CASE WHEN ${failures} >= ${ADMIN_ATTEMPTS_PER_MINUTE} THEN now() + make_interval(secs => ${ADMIN_LOCKOUT_MS / 1000}) ELSE admin_token_attempts.locked_until END`,
        }),
      )
      .execute();
    // Forget addresses gone quiet, so many guessers cannot grow the table without bound.
    await db
      .deleteFrom('admin_token_attempts')
      .where('window_start', '<', sql<Date>`now() - interval '1 minute'`)
      .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', sql<Date>`now()`)]))
      .execute();
  },

  async succeed(db: Kysely<Database>, address: string): Promise<void> {
    await db.deleteFrom('admin_token_attempts').where('address', '=', address).execute();
  },
};

/**
 * A Fastify preHandler for admin routes: `Authorization: Bearer <token>`, else 401 saying
 * how to get a token. The token never goes in a URL the server sees (no query strings).
 * Wrong tokens are logged (address and route, never the token) and rate-limited per address.
 */
export function adminGuard(db: Kysely<Database>, envToken: string | undefined) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : '';
    if (!token) return sendError(reply, 'SB_ERR_UNAUTHORIZED', 'admin token required: set SWITCHBOARD_ADMIN_TOKEN or run `npx switchboard admin-token`, then sign in with it');
    const { waitMs, counted } = await attempts.lockedFor(db, request.ip);
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      reply.header('retry-after', String(seconds));
      return sendError(reply, 'SB_ERR_RATE_LIMITED', `too many wrong admin tokens from this address: try again in ${seconds} s`);
    }
    if (!(await isAdminToken(db, envToken, token))) {
      await attempts.fail(db, request.ip);
      request.log.warn({ address: request.ip, route: request.routeOptions.url }, 'admin token refused');
      return sendError(reply, 'SB_ERR_UNAUTHORIZED', 'invalid admin token');
    }
    // Most requests (the page polls) have no count to clear: no write for them.
    if (counted) await attempts.succeed(db, request.ip);
  };
}
