/**
 * Front attachments → SignalWire MediaUrl: SignalWire fetches media by public URL, Front
 * serves attachments only with the channel JWT, so we download each one and host it at a
 * signed, expiring URL (engine/media-store.ts). Downloads only go to Front's own hosts:
 * an attachment URL is data from a request, and must not make us fetch anything else.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import { storeMedia } from '../../engine/media-store.ts';
import { invalidPayload } from '../../engine/errors.ts';
import type { ChannelRow, Delivery } from './deliver.ts';

interface FrontAttachment {
  id?: unknown;
  url?: unknown;
  filename?: unknown;
  content_type?: unknown;
}

/** SignalWire takes at most 8 media per message. */
const MAX_MEDIA = 8;

export function isFrontHost(url: string, apiUrl: string): boolean {
  if (!URL.canParse(url)) return false;
  const { protocol, host, hostname } = new URL(url);
  const api = new URL(apiUrl);
  if (host === api.host && protocol === api.protocol) return true;
  return protocol === 'https:' && (hostname === 'frontapp.com' || hostname.endsWith('.frontapp.com'));
}

export async function frontAttachmentUrls(delivery: Delivery, row: ChannelRow, attachments: unknown, db: Kysely<Database>): Promise<string[]> {
  if (!Array.isArray(attachments) || attachments.length === 0) return [];
  const channelId = delivery.integration.backfill_key ?? '';
  const urls: string[] = [];
  for (const attachment of (attachments as FrontAttachment[]).slice(0, MAX_MEDIA)) {
    const url = typeof attachment?.url === 'string' ? attachment.url : '';
    if (!isFrontHost(url, delivery.ctx.config.front.apiUrl)) {
      throw invalidPayload('attachment URL is not on a Front host: refused');
    }
    const bytes = await delivery.front.download(url, channelId);
    urls.push(
      await storeMedia(db, delivery.ctx.config.publicUrl, {
        integrationId: delivery.integration.id,
        filename: typeof attachment.filename === 'string' && attachment.filename ? attachment.filename : `attachment-${urls.length + 1}`,
        contentType: typeof attachment.content_type === 'string' ? attachment.content_type : 'application/octet-stream',
        bytes,
      }),
    );
  }
  return urls;
}
