/**
 * USSD sessions in Postgres, also those of flows over WhatsApp (gateway 'whatsapp', durable by number). Ids follow flow_chat's options: boundaries joined in its
 * fixed order flow:platform:gateway:url, then the identifier (the gateway's session id,
 * or the MSISDN for durable sessions). Identifiers are keyed HMAC-SHA256 hashes, so no
 * phone number appears in a session id or a log line. A hop locks its session row for
 * the whole turn, so two hops of one session never lose each other's updates.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database, ServiceIntegration } from '../../db/schema.ts';
import { requestBackfill } from '../../engine/backfill-queue.ts';

/** Session id parts, in flow_chat's fixed order. */
export const BOUNDARIES = ['flow', 'platform', 'gateway', 'url'] as const;
export type Boundary = (typeof BOUNDARIES)[number];
export const DEFAULT_BOUNDARIES: readonly Boundary[] = ['flow', 'platform', 'gateway'];

/** 32 hex characters (128 bits): flow_chat's current length, past the birthday bound of its old 8. */
export const hashIdentifier = (key: string, value: string) => createHmac('sha256', key).update(value).digest('hex').slice(0, 32);

/** flow_chat's url boundary: host/path with unsafe characters replaced, long ones shortened with a hash. */
function urlPart(url: string): string {
  const { host, pathname } = new URL(url);
  const text = `${host}${pathname}`.replace(/^\//, '').replace(/[^a-zA-Z0-9._-]/g, '_');
  return text.length > 50 ? `${text.slice(0, 41)}_${createHmac('sha256', '').update(text).digest('hex').slice(0, 8)}` : text;
}

export function sessionIdFor(
  parts: { flow: string; gateway: string; url: string; identifier: string; platform?: 'ussd' | 'whatsapp' },
  boundaries: readonly Boundary[],
  key: string,
): string {
  const values: Record<Boundary, string> = { flow: parts.flow, platform: parts.platform ?? 'ussd', gateway: parts.gateway, url: urlPart(parts.url) };
  const ordered = BOUNDARIES.filter((b) => boundaries.includes(b)).map((b) => values[b]);
  return [...ordered, hashIdentifier(key, parts.identifier)].join(':');
}

/** The integration's hashing key, made on first use (USSD callbacks are unsigned, so webhook_secret is free). */
export async function hashKeyOf(db: Kysely<Database>, integration: ServiceIntegration): Promise<string> {
  if (integration.webhook_secret) return integration.webhook_secret;
  const { rows } = await sql<{ key: string }>`
    UPDATE service_integrations SET webhook_secret = COALESCE(webhook_secret, ${randomBytes(32).toString('base64url')})
    WHERE id = ${integration.id} RETURNING webhook_secret AS key`.execute(db);
  return rows[0]!.key;
}

export interface SessionRow {
  id: string;
  state: unknown;
  status: 'open' | 'closed';
  hops: number;
  last_dedupe: string | null;
  /** The last hop was answered less than a second ago (database clock): a same-input hop now is a replay. */
  recent: boolean;
  /** Hash of the gateway session the row last served (durable sessions outlive gateway sessions). */
  gateway_session: string | null;
}

/** Create the session if new, and lock it for this hop (the caller's transaction). */
export async function lockSession(
  trx: Kysely<Database>,
  session: { id: string; integrationId: number; gateway: string; msisdnHash: string },
): Promise<SessionRow> {
  await sql`
    INSERT INTO ussd_sessions (id, integration_id, gateway, msisdn_hash)
    VALUES (${session.id}, ${session.integrationId}, ${session.gateway}, ${session.msisdnHash})
    ON CONFLICT (id) DO NOTHING`.execute(trx);
  const { rows } = await sql<SessionRow>`
    SELECT id, state, status, hops, last_dedupe, gateway_session, last_hop_at > clock_timestamp() - interval '1 second' AS recent
    FROM ussd_sessions WHERE id = ${session.id} FOR UPDATE`.execute(trx);
  return rows[0]!;
}

/**
 * After a hop. A closed session keeps no flow state or input: what a child typed lives on
 * only in the messages handed to the channel and the hop log.
 */
export async function saveSession(
  trx: Kysely<Database>,
  id: string,
  hop: { state: unknown; close: string | null; dedupe: string; gatewaySession: string },
): Promise<void> {
  const open = hop.close === null;
  await sql`
    UPDATE ussd_sessions SET
      state = ${open ? JSON.stringify(hop.state) : null}::jsonb,
      last_dedupe = ${open ? hop.dedupe : null},
      gateway_session = ${hop.gatewaySession},
      hops = hops + 1, last_hop_at = clock_timestamp(),
      status = ${open ? 'open' : 'closed'}, close_reason = ${hop.close}, closed_at = ${open ? null : new Date()}
    WHERE id = ${id}`.execute(trx);
}

/**
 * Close sessions left idle: no hop for their own `idle_seconds` (WhatsApp sessions), else
 * `idleSeconds` (USSD: the gateway abandoned them). Returns how many. Also forgets hop counts past their minute.
 */
export async function sweepSessions(db: Kysely<Database>, idleSeconds: number): Promise<number> {
  await sql`DELETE FROM ussd_hop_counts WHERE window_start < now() - interval '1 minute'`.execute(db);
  return db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ integration_id: number; gateway: string }>`
      UPDATE ussd_sessions SET status = 'closed', close_reason = 'abandoned', closed_at = now(), state = NULL, last_dedupe = NULL
      WHERE status = 'open' AND last_hop_at < now() - make_interval(secs => COALESCE(idle_seconds, ${idleSeconds}))
      RETURNING integration_id, gateway`.execute(trx);
    // A WhatsApp session's pass hands what the client wrote in it to Front.
    for (const id of new Set(rows.filter((r) => r.gateway === 'whatsapp').map((r) => Number(r.integration_id)))) {
      await requestBackfill(trx, id, { incremental: true, trigger: 'sweep' });
    }
    return rows.length;
  });
}
