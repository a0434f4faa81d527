/**
 * How the WhatsApp channel's rows read for delivery (front-channel/deliver.ts): a client's
 * message was written at Meta's timestamp and imports as text Front can show — media
 * downloaded through the Graph API (a fresh URL per download, since URLs expire within
 * minutes) and attached, a location as its coordinates and a map link, a button or list
 * reply as its title, a reaction or an unsupported type as a short line. Notices import
 * their text once.
 */
import type { FrontFile } from '../../providers/front/client.ts';
import { ProviderHttpError } from '../../providers/http.ts';
import type { ChannelRow, ChannelSpec, Delivery } from '../front-channel/deliver.ts';
import { whatsAppClient } from '../whatsapp-message-v1.ts';

type Message = Record<string, any>;

const MEDIA = ['image', 'video', 'audio', 'document', 'sticker'] as const;
const isNotice = (row: ChannelRow) => typeof row.data.notice === 'string';
const messageOf = (row: ChannelRow): Message => (row.data.message ?? {}) as Message;

function coordinates(location: Message): string {
  const { latitude, longitude } = location;
  const place = [location.name, location.address].filter((part) => typeof part === 'string' && part).join(', ');
  const at = `${latitude}, ${longitude}`;
  return [`Location: ${place || at}`, place ? at : null, `https://www.openstreetmap.org/?mlat=${latitude}&mlon=${longitude}#map=17/${latitude}/${longitude}`]
    .filter(Boolean)
    .join('\n');
}

/** The text Front shows for a message that is not plain text or media. */
export function textOf(message: Message): string {
  switch (message.type) {
    case 'text':
      return String(message.text?.body ?? '');
    case 'location':
      return coordinates(message.location ?? {});
    case 'interactive': {
      const reply = message.interactive?.button_reply ?? message.interactive?.list_reply;
      return String(reply?.title ?? '(a reply to an interactive message)');
    }
    case 'button':
      return String(message.button?.text ?? message.button?.payload ?? '(a template button)');
    case 'reaction':
      return message.reaction?.emoji ? `Reacted ${message.reaction.emoji} to a message` : 'Removed a reaction';
    case 'contacts': {
      const cards = (Array.isArray(message.contacts) ? message.contacts : []) as Message[];
      return `Shared contact: ${cards.map((c) => [c.name?.formatted_name, ...(c.phones ?? []).map((p: Message) => p.phone)].filter(Boolean).join(' ')).join('; ')}`;
    }
    default:
      return `(a WhatsApp message of a type Switchboard does not show: ${String(message.type)})`;
  }
}

const extension = (mimeType: string) => mimeType.split(';')[0]!.split('/')[1]?.replace(/[^a-z0-9.+-]/gi, '') || 'bin';

/** A media message's caption and its file; a media id WhatsApp no longer has becomes a line in the body. */
async function mediaOf(delivery: Delivery, message: Message, writtenAt: Date): Promise<{ body: string; files: FrontFile[] }> {
  const type = message.type as (typeof MEDIA)[number];
  const media = (message[type] ?? {}) as Message;
  const caption = typeof media.caption === 'string' ? media.caption : '';
  try {
    const { bytes, mimeType } = await whatsAppClient(delivery.parent).downloadMedia(String(media.id ?? ''));
    const day = writtenAt.toISOString().slice(0, 10).replaceAll('-', '');
    const filename = typeof media.filename === 'string' && media.filename ? media.filename : `${day}-${type}.${extension(mimeType)}`;
    return { body: caption || `(${type})`, files: [{ filename, contentType: mimeType, bytes }] };
  } catch (error) {
    // Expired or unknown (Meta keeps webhook media 7 days): import the message without it, saying so.
    if (!(error instanceof ProviderHttpError) || error.retryable || error.code === 'SB_ERR_PROVIDER_AUTH') throw error;
    return { body: `${caption || `(${type})`}\nError: the ${type} could not be downloaded from WhatsApp (${error.providerCode ?? error.httpStatus}).`, files: [] };
  }
}

export const whatsAppChannelSpec: ChannelSpec = {
  invariant: (row) => (row.direction === 'outbound' && row.front_message_id === null ? 'a reply without its Front message' : null),
  writtenAt(row) {
    if (isNotice(row)) return new Date(String(row.data.noticed_at));
    const seconds = Number(messageOf(row).timestamp);
    return Number.isFinite(seconds) && seconds > 0 ? new Date(seconds * 1000) : row.row_created_at;
  },
  async importPlan(delivery, row, writtenAt) {
    const key = `fwca-fims-${row.external_id}`;
    if (isNotice(row)) return { body: row.body ?? '', files: [], externalId: row.external_id, key };
    const message = messageOf(row);
    const { body, files } = (MEDIA as readonly string[]).includes(message.type) ? await mediaOf(delivery, message, writtenAt) : { body: textOf(message), files: [] };
    return { body: body.trim() ? body : '<no body>', files, externalId: row.external_id, key };
  },
};
