/**
 * What an SMS/MMS imports into Front as: its body, with a text/plain part appended, and
 * its images as attachments named "<YYYYMMDD>-attachment<n>.<subtype>" (WebhookDB's
 * sync_sms_into_front). Front needs a body, so an empty one becomes "<no body>".
 */
import { sql } from 'kysely';
import type { FrontFile } from '../../providers/front/client.ts';
import { signalWireClient } from '../../providers/signalwire/client.ts';
import type { ChannelRow, Delivery } from '../front-channel/deliver.ts';

/** The SignalWire sid of an SMS channel row (its counterpart column). */
export const sidOf = (row: ChannelRow): string | null => (row.signalwire_sid as string | null | undefined) ?? null;

const blank = (text: string | null): boolean => text === null || text.trim() === '';

export async function signalWireMedia(delivery: Delivery, row: ChannelRow, textedAt: Date): Promise<{ body: string; files: FrontFile[] }> {
  const { rows } = await sql<{ data: Record<string, unknown> }>`
    SELECT data FROM signalwire_message_v1
    WHERE integration_id = ${delivery.parent.id} AND signalwire_id = ${sidOf(row)}`.execute(delivery.ctx.db);
  const base = row.body;
  const stored = rows[0];
  if (!stored) {
    const body = blank(base) ? '<no body>' : (base as string);
    return { body: `${body}\nError: No replicated row for SMS ${sidOf(row)} found in database, attachments not found.`, files: [] };
  }
  // SignalWire sends num_media as a string ("0") as often as a number.
  const numMedia = Number(stored.data.num_media ?? 0);
  if (!(numMedia > 0)) return { body: blank(base) ? '<no body>' : (base as string), files: [] };

  const signalwire = signalWireClient(delivery.parent);
  const uris = stored.data.subresource_uris as { media?: string } | undefined;
  const listUri = uris?.media ?? `${signalwire.accountPath}/Messages/${encodeURIComponent(sidOf(row) ?? '')}/Media.json`;
  const items = await signalwire.listMedia(listUri);
  let body = base;
  const text = items.find((item) => item.content_type === 'text/plain');
  if (text) body = [base, (await signalwire.downloadMedia(text)).toString('utf8')].filter((part) => part !== null).join('\n');
  const day = textedAt.toISOString().slice(0, 10).replaceAll('-', '');
  const files: FrontFile[] = [];
  for (const [i, item] of items.filter((m) => m.content_type.startsWith('image/')).entries()) {
    files.push({
      filename: `${day}-attachment${i + 1}.${item.content_type.slice('image/'.length)}`,
      contentType: item.content_type,
      bytes: await signalwire.downloadMedia(item),
    });
  }
  return { body: blank(body) ? '<no body>' : (body as string), files };
}
