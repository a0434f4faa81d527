/**
 * How Front's channel requests become channel rows, with WebhookDB's ids: a `message`
 * yields one row per `to` recipient, keyed "<front message id>-<E.164 recipient>"
 * (auto-replies: "<replied-to id>_autoreply"). Numbers are E.164 through libphonenumber-js
 * with the integration's region (a channel may accept other client ids too). Shared by every Front application channel.
 */
import type { Config } from '../../config.ts';
import type { ServiceIntegration } from '../../db/schema.ts';
import { invalidPayload } from '../../engine/errors.ts';
import type { RowInput } from '../../engine/replicator.ts';
import { parsePhone } from '../../providers/phone.ts';

export const CHANNEL_TYPES = ['authorization', 'delete', 'message', 'message_autoreply', 'message_imported'] as const;
export type ChannelType = (typeof CHANNEL_TYPES)[number];

export function regionOf(integration: ServiceIntegration, config: Config): string {
  const region = integration.settings.region;
  return typeof region === 'string' && region ? region : config.defaultPhoneRegion;
}

interface FrontRecipient {
  handle?: unknown;
  role?: unknown;
}

interface FrontPayload {
  id?: unknown;
  text?: unknown;
  created_at?: unknown;
  recipients?: unknown;
  attachments?: unknown;
  _links?: { related?: { message_replied_to?: unknown } };
}

function frontMessageId(type: ChannelType, payload: FrontPayload): string {
  if (type === 'message') {
    if (typeof payload.id !== 'string' || !payload.id) throw invalidPayload('payload.id is required');
    return payload.id;
  }
  const repliedTo = payload._links?.related?.message_replied_to;
  if (typeof repliedTo !== 'string' || !repliedTo) throw invalidPayload('payload._links.related.message_replied_to is required');
  return `${repliedTo.split('/').filter(Boolean).at(-1)}_autoreply`;
}

/** How a Front recipient handle becomes the client's id (the conversation key), or what is wrong with it. */
export type HandleParser = (handle: string | null, region: string) => { id: string } | { problem: string };

/** A phone number, as E.164 (the SMS and USSD channels' clients). */
export const phoneHandle: HandleParser = (handle, region) => {
  const parsed = parsePhone(handle, region);
  return 'problem' in parsed ? parsed : { id: parsed.e164 };
};

/** Rows for a Front `message` or `message_autoreply` request (no counterpart id yet); none for other types. */
export function frontRows(body: unknown, integration: ServiceIntegration, config: Config, counterpartColumn: string, parseHandle: HandleParser = phoneHandle): RowInput[] {
  const request = body as { type?: unknown; payload?: unknown };
  if (request.type !== 'message' && request.type !== 'message_autoreply') return [];
  const payload = request.payload as FrontPayload | undefined;
  if (!payload || typeof payload !== 'object') throw invalidPayload('payload is required');
  const mid = frontMessageId(request.type, payload);
  if (!('text' in payload) || (payload.text !== null && typeof payload.text !== 'string')) throw invalidPayload('payload.text is required');
  const text = payload.text as string | null;
  const region = regionOf(integration, config);
  const recipients = (Array.isArray(payload.recipients) ? (payload.recipients as FrontRecipient[]) : []).filter((r) => r?.role === 'to');
  if (recipients.length === 0) throw invalidPayload('no recipient found');
  const sender = integration.api_url;
  return recipients.map((recipient) => {
    const parsed = parseHandle(typeof recipient.handle === 'string' ? recipient.handle : null, region);
    if ('problem' in parsed) throw invalidPayload(`recipient: ${parsed.problem}`);
    const phone = parsed.id;
    const externalId = `${mid}-${phone}`;
    const columns = {
      front_message_id: mid,
      [counterpartColumn]: null,
      external_conversation_id: phone,
      direction: 'outbound',
      body: text,
      sender,
      recipient: phone,
    };
    return { key: externalId, columns, data: { ...(body as object), ...columns, external_id: externalId } };
  });
}
