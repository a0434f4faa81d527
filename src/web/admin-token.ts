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

/** Wrong-token attempts per client address (in this process): a guesser gets ten a minute. */
class AttemptLimiter {
  readonly #byAddress = new Map<string, { failures: number; since: number; lockedUntil: number }>();

  /** Milliseconds until `address` may try again; 0 when it may now. */
  lockedFor(address: string): number {
    return Math.max(0, (this.#byAddress.get(address)?.lockedUntil ?? 0) - Date.now());
  }

  fail(address: string): void {
    const now = Date.now();
    let entry = this.#byAddress.get(address);
    if (!entry || now - entry.since > 60_000) {
      entry = { failures: 0, since: now, lockedUntil: 0 };
      this.#byAddress.set(address, entry);
    }
    entry.failures++;
    if (entry.failures >= ADMIN_ATTEMPTS_PER_MINUTE) {
      entry.lockedUntil = now + ADMIN_LOCKOUT_MS;
      entry.failures = 0;
      entry.since = now;
    }
    // Forget addresses gone quiet, so many guessers cannot grow the map without bound.
    if (this.#byAddress.size > 10_000) {
      for (const [key, e] of this.#byAddress) if (now - e.since > 60_000 && e.lockedUntil < now) this.#byAddress.delete(key);
    }
  }

  succeed(address: string): void {
    this.#byAddress.delete(address);
  }
}

/**
 * A Fastify preHandler for admin routes: `Authorization: Bearer <token>`, else 401 saying
 * how to get a token. The token never goes in a URL the server sees (no query strings).
 * Wrong tokens are logged (address and route, never the token) and rate-limited per address.
 */
export function adminGuard(db: Kysely<Database>, envToken: string | undefined) {
  const limiter = new AttemptLimiter();
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : '';
    if (!token) return sendError(reply, 'SB_ERR_UNAUTHORIZED', 'admin token required: set SWITCHBOARD_ADMIN_TOKEN or run `npx switchboard admin-token`, then sign in with it');
    const wait = limiter.lockedFor(request.ip);
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      reply.header('retry-after', String(seconds));
      return sendError(reply, 'SB_ERR_RATE_LIMITED', `too many wrong admin tokens from this address: try again in ${seconds} s`);
    }
    if (!(await isAdminToken(db, envToken, token))) {
      limiter.fail(request.ip);
      request.log.warn({ address: request.ip, route: request.routeOptions.url }, 'admin token refused');
      return sendError(reply, 'SB_ERR_UNAUTHORIZED', 'invalid admin token');
    }
    limiter.succeed(request.ip);
  };
}
