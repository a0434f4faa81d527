/**
 * Admin tokens for the dashboard, issued by `switchboard admin-token` and stored as
 * SHA-256 hashes (random 32-byte tokens need no slow hash; the hash stays lookup-able).
 * SWITCHBOARD_ADMIN_TOKEN in the environment works as well and is never stored.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE admin_tokens (
      id bigserial PRIMARY KEY,
      token_hash text NOT NULL UNIQUE,
      label text,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz
    )
  `.execute(db);
}
