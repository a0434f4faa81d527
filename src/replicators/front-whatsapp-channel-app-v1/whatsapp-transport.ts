/**
 * Replies through the channel's `whatsapp_message_v1` integration (Cloud API).
 *
 * - Each send carries our tag (`biz_opaque_callback_data` = `fwca:<channel>:<row pk>`),
 *   which Meta echoes on the message's status receipts: a send whose answer was lost is
 *   found by that tag among the receipts (and adopted when the receipt comes, index.ts)
 *   instead of sent again. With no receipt yet, the row is held up to
 *   SWITCHBOARD_WHATSAPP_SEND_HOLD_S after the attempt began; only then is it sent again. That is the residual window: a send
 *   that reached Meta but whose receipts all come later than the hold (or never: a
 *   `failed` receipt need not echo the tag) can go twice.
 * - The 24-hour customer service window: free text goes only within 24 hours (less a
 *   margin) of the client's last message. Outside it, with a re-engagement template, the
 *   template goes once (per client and last message) and the reply waits for the client to
 *   write back; without one the reply is skipped. Either way one notice tells the counsellor.
 * - A coded refusal (131026 undeliverable, 131047 window…) posts one failure notice and the
 *   row fails with the code (deliver.ts); rate limits and 5xx back off (Retry-After).
 * - After a reply is sent, the client's messages are marked read (setting `read_receipts`).
 */
import { sql, type Kysely } from 'kysely';
import type { Database, ServiceIntegration } from '../../db/schema.ts';
import { messageForLog } from '../../engine/errors.ts';
import { onceEver } from '../../engine/idempotency.ts';
import { ProviderHttpError } from '../../providers/http.ts';
import { WHATSAPP_RECORD } from '../front-channel/carrier.ts';
import type { ChannelRow, Delivery } from '../front-channel/deliver.ts';
import { frontAttachmentUrls } from '../front-channel/front-media.ts';
import { NotYet, type Transport } from '../front-channel/transport.ts';
import { WHATSAPP_MESSAGE, whatsAppClient } from '../whatsapp-message-v1.ts';
import { failureNoticeText, postNotice, waIdOf } from './rows.ts';

/** Meta's customer service window, less a margin for clocks and queues. */
export const WINDOW_MS = 24 * 3_600_000 - 10 * 60_000;

export const sendTag = (integration: ServiceIntegration, row: Pick<ChannelRow, 'pk'>) => `fwca:${integration.id}:${row.pk}`;

/** The channel's re-engagement template (`--reengage-template name:language`), if any. */
export function templateOf(integration: ServiceIntegration): { name: string; language: string } | null {
  const value = integration.settings.reengage_template;
  if (typeof value !== 'string') return null;
  const [name, language] = value.split(':');
  return name && language ? { name, language } : null;
}

const readReceipts = (integration: ServiceIntegration) => integration.settings.read_receipts !== 'off';

/** The client's last message to our number: its wamid and when they wrote it. */
async function lastInbound(db: Kysely<Database>, parent: ServiceIntegration, client: string): Promise<{ wamid: string; at: Date } | null> {
  const { rows } = await sql<{ wamid: string; at: Date }>`
    SELECT wamid, COALESCE("timestamp", row_created_at) AS at FROM whatsapp_message_v1
    WHERE integration_id = ${parent.id} AND direction = 'inbound' AND "from" = ${waIdOf(client)}
    ORDER BY COALESCE("timestamp", row_created_at) DESC, pk DESC LIMIT 1`.execute(db);
  return rows[0] ?? null;
}

/** Meta's code and title of a refusal, from its error body. */
function refusalOf(error: ProviderHttpError): { code: string; title: string | null } {
  let title: string | null = null;
  try {
    const message = (JSON.parse(error.responseBody) as { error?: { message?: unknown } }).error?.message;
    if (typeof message === 'string') title = message;
  } catch {
    // Not JSON: the code says enough.
  }
  return { code: error.providerCode ?? `HTTP_${error.httpStatus}`, title };
}

/**
 * Send one message; a coded refusal first posts its notice (committed on its own: the
 * send's transaction rolls back with the error, and the row then fails with the code).
 * A 4xx answer to the reply's first message means nothing went: the next attempt need not
 * wait for a receipt (a 5xx or no answer may hide a send, and keeps the wait).
 */
async function sendOrNotice(delivery: Delivery, row: ChannelRow, message: Record<string, unknown>, first = false): Promise<string> {
  try {
    return await whatsAppClient(delivery.parent).sendMessage(message);
  } catch (error) {
    if (first && error instanceof ProviderHttpError && error.httpStatus !== null && error.httpStatus >= 400 && error.httpStatus < 500) {
      await sql`UPDATE ${sql.table(delivery.integration.service_name)} SET send_started_at = NULL WHERE pk = ${row.pk}`.execute(delivery.ctx.db);
    }
    if (error instanceof ProviderHttpError && !error.retryable && error.httpStatus !== null && error.code !== 'SB_ERR_PROVIDER_AUTH') {
      const { code, title } = refusalOf(error);
      await postNotice(delivery.ctx.db, delivery.integration, {
        key: `wafail-${row.external_id}`,
        kind: 'whatsapp_failure',
        client: row.recipient ?? '',
        text: failureNoticeText(code, title, row.body),
        about: { reply_external_id: row.external_id },
      });
    }
    throw error;
  }
}

/** WhatsApp's media type for a content type (documents take anything else). */
function mediaType(contentType: string): 'image' | 'video' | 'audio' | 'document' {
  if (/^image\/(jpeg|png)$/.test(contentType)) return 'image';
  if (/^video\//.test(contentType)) return 'video';
  if (/^audio\//.test(contentType)) return 'audio';
  return 'document';
}

/** The reply as WhatsApp messages: its text, then each attachment by its hosted link. */
async function partsOf(delivery: Delivery, row: ChannelRow, db: Kysely<Database>): Promise<Record<string, unknown>[]> {
  const attachments = ((row.data.payload ?? {}) as { attachments?: unknown }).attachments;
  const links = await frontAttachmentUrls(delivery, row, attachments, db);
  const described = (Array.isArray(attachments) ? attachments : []) as { content_type?: unknown; filename?: unknown }[];
  const media = links.map((link, i) => {
    const type = mediaType(String(described[i]?.content_type ?? ''));
    const filename = type === 'document' && typeof described[i]?.filename === 'string' ? { filename: described[i]!.filename } : {};
    return { type, [type]: { link, ...filename } };
  });
  const text = row.body?.trim() ? [{ type: 'text', text: { body: row.body, preview_url: false } }] : [];
  return [...text, ...media];
}

/** Mark the client's last message read (WhatsApp shows the ones before it read too); a failure here never fails the send. */
async function markClientRead(delivery: Delivery, row: ChannelRow, db: Kysely<Database>): Promise<void> {
  const last = await lastInbound(db, delivery.parent, row.recipient ?? '');
  if (!last) return;
  try {
    await whatsAppClient(delivery.parent).markRead(last.wamid);
  } catch (error) {
    // messageForLog: Meta's own words can quote the client's number.
    delivery.ctx.log.warn({ pk: row.pk, err: messageForLog(error) }, 'marking the client\'s messages read failed');
  }
}

/** Outside the window: the template once per client and last message, the reply kept until they write back. */
async function reengage(delivery: Delivery, row: ChannelRow, last: { wamid: string } | null): Promise<never> {
  const { ctx, integration } = delivery;
  const template = templateOf(integration)!;
  const client = row.recipient ?? '';
  await onceEver(ctx.db, `fwca-reengage-${client}-${last?.wamid ?? 'never'}`, async () =>
    sendOrNotice(delivery, row, {
      to: waIdOf(client),
      type: 'template',
      template: { name: template.name, language: { code: template.language, policy: 'deterministic' } },
      biz_opaque_callback_data: `${sendTag(integration, row)}:template`,
    }),
  String(integration.id));
  await postNotice(ctx.db, integration, {
    key: `wawindow-${row.external_id}`,
    kind: 'whatsapp_window',
    client,
    text: `Not sent yet: more than 24 hours have passed since this client's last WhatsApp message, so WhatsApp allows only an approved template. Sent the template "${template.name}" (${template.language}); this reply goes as soon as the client writes back.`,
    about: { reply_external_id: row.external_id },
  });
  // Until the client writes back (index.ts clears the wait), at most until the reply is too old to send.
  throw new NotYet(new Date(row.row_created_at.getTime() + 48 * 3_600_000), 'outside the 24-hour window: waiting for the client to write back');
}

export const whatsAppTransport: Transport = {
  dependsOn: WHATSAPP_MESSAGE,
  counterpartColumn: 'whatsapp_wamid',
  record: WHATSAPP_RECORD,
  sendKey: (row) => `fwca-send-${row.external_id}`,

  async refusal(delivery, row) {
    const last = await lastInbound(delivery.ctx.db, delivery.parent, row.recipient ?? '');
    if (last && Date.now() - last.at.getTime() < WINDOW_MS) return null;
    if (templateOf(delivery.integration)) return reengage(delivery, row, last);
    const message = 'outside WhatsApp\'s 24-hour window (the client last wrote more than 24 hours ago) and the channel has no --reengage-template';
    await postNotice(delivery.ctx.db, delivery.integration, {
      key: `wawindow-${row.external_id}`,
      kind: 'whatsapp_window',
      client: row.recipient ?? '',
      text: 'Not sent: more than 24 hours have passed since this client\'s last WhatsApp message, and WhatsApp allows only an approved template then. This channel has no re-engagement template (--reengage-template), so the reply was skipped.',
      about: { reply_external_id: row.external_id },
    });
    return { marker: 'skipped', message };
  },

  async send(delivery, row, db) {
    const tag = sendTag(delivery.integration, row);
    let first: string | null = null;
    for (const [i, part] of (await partsOf(delivery, row, db)).entries()) {
      const wamid = await sendOrNotice(delivery, row, { to: waIdOf(row.recipient ?? ''), ...part, biz_opaque_callback_data: i === 0 ? tag : `${tag}:${i}` }, i === 0);
      first ??= wamid;
    }
    if (!first) throw new ProviderHttpError({ provider: 'whatsapp', message: 'the reply has neither text nor attachments', httpStatus: 400, retryable: false });
    if (readReceipts(delivery.integration)) await markClientRead(delivery, row, db);
    return first;
  },

  // Our send's receipt (sent/delivered/read carry our tag back); none yet: wait for it, up to the hold.
  async findEarlierSend(delivery, row, since, db) {
    const { rows } = await sql<{ wamid: string }>`
      SELECT wamid FROM whatsapp_message_v1
      WHERE integration_id = ${delivery.parent.id} AND direction = 'outbound' AND "to" = ${waIdOf(row.recipient ?? '')}
        AND EXISTS (SELECT 1 FROM jsonb_each(data->'statuses') s WHERE s.value->>'biz_opaque_callback_data' = ${sendTag(delivery.integration, row)})
      LIMIT 1`.execute(db);
    if (rows[0]) return rows[0].wamid;
    const until = new Date(since.getTime() + delivery.ctx.config.whatsappSendHoldMs);
    if (until.getTime() <= Date.now()) return null;
    // This look started a new attempt (deliver.ts moved send_started_at): the hold still runs from the unanswered send.
    await sql`UPDATE ${sql.table(delivery.integration.service_name)} SET send_started_at = ${since} WHERE pk = ${row.pk}`.execute(delivery.ctx.db);
    throw new NotYet(until, 'waiting for WhatsApp\'s receipt of a send whose answer was lost');
  },
};
