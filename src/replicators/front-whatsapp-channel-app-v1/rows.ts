/**
 * WhatsApp messages as rows of the Front WhatsApp channel: a client's message keyed by its
 * wamid, in the conversation of the client's E.164 number (`+` and the wa_id) or, for a
 * user Meta shows without a phone number, of their business-scoped user id (BSUID); and
 * the notices the channel posts into a conversation (a failed send, a closed window), each
 * stored once under its own key.
 */
import { sql, type Kysely } from 'kysely';
import type { Database, ServiceIntegration } from '../../db/schema.ts';
import type { RowInput } from '../../engine/replicator.ts';
import { phoneHandle, type HandleParser } from '../front-channel/rows.ts';

export const FRONT_WHATSAPP_CHANNEL = 'front_whatsapp_channel_app_v1';

/** A business-scoped user id: country, `.`, alphanumerics (parent ids carry `ENT.`). */
const BSUID = /^[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]{1,128}$/;

/** A client id (conversation key) from WhatsApp's user id: digits are a phone number. */
export function clientIdOf(waId: string | null | undefined): string | null {
  if (!waId) return null;
  if (/^\d{5,15}$/.test(waId)) return `+${waId}`;
  return BSUID.test(waId) ? waId : null;
}

/** What WhatsApp calls the client (the `to` of a send, the `from` of their messages). */
export const waIdOf = (clientId: string): string => (clientId.startsWith('+') ? clientId.slice(1) : clientId);

/** Front's recipient handle: a BSUID as it is, else a phone number. */
export const whatsAppHandle: HandleParser = (handle, region) => (handle && BSUID.test(handle.trim()) ? { id: handle.trim() } : phoneHandle(handle, region));

/** The inbound row for a client's message (the whatsapp_message_v1 row's wamid and payload). */
export function inboundRow(wamid: string, client: string, business: string | null, data: Record<string, unknown>): RowInput {
  const message = (data.message ?? {}) as Record<string, unknown>;
  const columns = {
    whatsapp_wamid: wamid,
    front_message_id: null,
    external_conversation_id: client,
    direction: 'inbound',
    body: typeof (message.text as { body?: unknown } | undefined)?.body === 'string' ? (message.text as { body: string }).body : null,
    sender: client,
    recipient: business,
  };
  return { key: wamid, columns, data: { ...data, ...columns, external_id: wamid } };
}

/** The notice's text when WhatsApp refused or failed a message: the code, its title and the message's start. */
export function failureNoticeText(code: string | number | null, title: string | null, body: string | null): string {
  return `WhatsApp message failed to send. Error (${code ?? '-'}): ${title || '-'}\n${(body ?? '').slice(0, 26)}`;
}

/**
 * Store a notice for the counsellor (imported into the client's conversation by the pass),
 * once ever under `key`: a repeat of what caused it stores nothing more.
 */
export async function postNotice(
  db: Kysely<Database>,
  channel: ServiceIntegration,
  notice: { key: string; kind: string; client: string; text: string; about?: Record<string, unknown> },
): Promise<void> {
  const data = { notice: notice.kind, ...notice.about, external_id: notice.key, noticed_at: new Date().toISOString() };
  await sql`
    INSERT INTO ${sql.table(FRONT_WHATSAPP_CHANNEL)} (integration_id, external_id, external_conversation_id, direction, body, sender, recipient, data)
    VALUES (${channel.id}, ${notice.key}, ${notice.client}, 'inbound', ${notice.text}, ${notice.client}, ${channel.api_url}, ${JSON.stringify(data)}::jsonb)
    ON CONFLICT (integration_id, external_id) DO NOTHING`.execute(db);
}
