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

/**
 * A Fastify preHandler for admin routes: `Authorization: Bearer <token>`, else 401 saying
 * how to get a token. The token never goes in a URL the server sees (no query strings).
 */
export function adminGuard(db: Kysely<Database>, envToken: string | undefined) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : '';
    if (!token) return sendError(reply, 'SB_ERR_UNAUTHORIZED', 'admin token required: set SWITCHBOARD_ADMIN_TOKEN or run `npx switchboard admin-token`, then sign in with it');
    if (!(await isAdminToken(db, envToken, token))) return sendError(reply, 'SB_ERR_UNAUTHORIZED', 'invalid admin token');
  };
}
