/**
 * Hosting media for providers that fetch it by URL (SignalWire's MediaUrl): bytes in
 * Postgres, served at `/v1/media/<id>/<filename>?expires=<unix>&sig=<hmac>`. Each file
 * has its own random secret, so a URL cannot be forged or extended; files expire (the
 * URL after 30 minutes, the bytes after 60) and the prune job deletes them.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { safeEqual } from '../providers/safe-equal.ts';

export const URL_TTL_MS = 30 * 60_000;
export const FILE_TTL_MS = 60 * 60_000;

const signature = (secret: string, id: string, expires: number) =>
  createHmac('sha256', secret).update(`${id}:${expires}`).digest('base64url');

export async function storeMedia(
  db: Kysely<Database>,
  publicUrl: string,
  file: { integrationId: number; filename: string; contentType: string; bytes: Buffer },
  now = Date.now(),
): Promise<string> {
  const id = randomBytes(16).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  await sql`
    INSERT INTO media_files (id, integration_id, filename, content_type, bytes, secret, expires_at)
    VALUES (${id}, ${file.integrationId}, ${file.filename}, ${file.contentType}, ${file.bytes}, ${secret}, ${new Date(now + FILE_TTL_MS)})`.execute(db);
  const expires = Math.floor((now + URL_TTL_MS) / 1000);
  return `${publicUrl}/v1/media/${id}/${encodeURIComponent(file.filename)}?expires=${expires}&sig=${signature(secret, id, expires)}`;
}

export type MediaLookup =
  | { found: true; filename: string; contentType: string; bytes: Buffer }
  | { found: false; reason: 'unknown' | 'expired' | 'bad signature' };

export async function loadMedia(db: Kysely<Database>, id: string, expires: string, sig: string, now = Date.now()): Promise<MediaLookup> {
  const { rows } = await sql<{ filename: string; content_type: string; bytes: Buffer; secret: string }>`
    SELECT filename, content_type, bytes, secret FROM media_files WHERE id = ${id} AND expires_at > now()`.execute(db);
  const file = rows[0];
  if (!file) return { found: false, reason: 'unknown' };
  if (!safeEqual(signature(file.secret, id, Number(expires)), sig)) return { found: false, reason: 'bad signature' };
  if (!/^\d+$/.test(expires) || Number(expires) * 1000 < now) return { found: false, reason: 'expired' };
  return { found: true, filename: file.filename, contentType: file.content_type, bytes: file.bytes };
}
