/**
 * The Front side of an application channel: sends our channel webhook the signed requests
 * Front sends (authorization, message, message_autoreply, message_imported, delete), with
 * payloads shaped like Front's, and raw requests for tests of bad input.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { FrontSimulator, ImportedMessage } from './front.ts';
import type { ImportFile } from './front-import.ts';

/** base64(HMAC-SHA256(appSecret, `${timestamp}:${rawBody}`)): Front's `X-Front-Signature`. */
export function signFrontRequest(secret: string, timestamp: string, rawBody: string): string {
  return createHmac('sha256', secret).update(`${timestamp}:${rawBody}`).digest('base64');
}

export interface ChannelResponse {
  status: number;
  /** Lower-cased names. */
  headers: Record<string, string>;
  text: string;
  json(): unknown;
}

export interface SendOptions {
  /** `X-Front-Request-Timestamp` (default `String(Date.now())`, milliseconds). */
  timestamp?: string;
  signal?: AbortSignal;
}

export interface FrontTeammate {
  id: string;
  email: string;
  username: string;
  first_name: string;
  last_name: string;
}

/** A reply or new message a teammate sends through the channel. */
export interface FrontMessageInput {
  /** The channel instance the message goes out on; its JWT downloads the attachments. */
  channelId: string;
  /** Plain text; the HTML body is `<p>text</p>` unless `html` is given. */
  text: string;
  html?: string;
  /** Handles with role "to" (the SMS recipients). */
  to: string[];
  cc?: string[];
  /** Handle of the "from" recipient (default: the channel id). */
  channelAddress?: string;
  /** Epoch seconds (float); default now. */
  createdAt?: number;
  conversationId?: string;
  author?: Partial<FrontTeammate>;
  attachments?: ImportFile[];
  externalConversationIds?: string[];
}

export interface FrontAutoreplyInput extends FrontMessageInput {
  /** The inbound message the auto-reply answers (`msg_...`). */
  repliedToId: string;
}

export interface RawRequest extends SendOptions {
  method?: string;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  /** Merged last, so they override the defaults. */
  headers?: Record<string, string>;
  /** Add `X-Front-Signature` (default true). */
  sign?: boolean;
  /** Bearer token; null omits `Authorization` (default: the client's apiKey). */
  apiKey?: string | null;
  /** Signing key (default: the simulator's app secret). */
  secret?: string;
}

export interface FrontChannelClient {
  /** Also makes the Channel API answer for `channelId`. */
  authorize(channelId: string, options?: SendOptions): Promise<ChannelResponse>;
  message(input: FrontMessageInput & { id?: string }, options?: SendOptions): Promise<ChannelResponse>;
  autoreply(input: FrontAutoreplyInput, options?: SendOptions): Promise<ChannelResponse>;
  /** Front telling the channel it has processed an earlier import. */
  imported(message: ImportedMessage, options?: SendOptions & { id?: string; conversationId?: string }): Promise<ChannelResponse>;
  delete(channelId: string, options?: SendOptions): Promise<ChannelResponse>;
  raw(request: RawRequest): Promise<ChannelResponse>;
}

type ClientHost = Pick<FrontSimulator, 'appSecret' | 'channels' | 'channelWebhooks' | 'addAttachment'>;

export const API = 'https://api2.frontapp.com';
const hex = (bytes: number) => randomBytes(bytes).toString('hex');

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

function recipient(handle: string, role: 'from' | 'to' | 'cc') {
  return { _links: { related: { contact: `${API}/contacts/crd_${hex(4)}` } }, name: null, handle, role };
}

function teammate(author: Partial<FrontTeammate> = {}) {
  const id = author.id ?? `tea_${hex(3)}`;
  return {
    _links: { self: `${API}/teammates/${id}`, related: { inboxes: `${API}/teammates/${id}/inboxes`, conversations: `${API}/teammates/${id}/conversations` } },
    id,
    email: author.email ?? 'agent@example.com',
    username: author.username ?? 'agent',
    first_name: author.first_name ?? 'Ada',
    last_name: author.last_name ?? 'Agent',
    is_admin: false,
    is_available: true,
    is_blocked: false,
  };
}

/** The Front message object, as in `message` payloads (no id: autoreplies have none). */
function frontMessage(input: FrontMessageInput, links: Record<string, string>, addAttachment: ClientHost['addAttachment']) {
  const attachments = (input.attachments ?? []).map((file) => {
    const stored = addAttachment(input.channelId, file);
    return { id: stored.id, filename: file.filename, content_type: file.contentType, size: file.bytes.length, url: stored.url, metadata: { is_inline: false } };
  });
  const conversationId = input.conversationId ?? `cnv_${hex(4)}`;
  return {
    _links: { related: { conversation: `${API}/conversations/${conversationId}`, ...links } },
    is_inbound: false,
    created_at: input.createdAt ?? Date.now() / 1000,
    blurb: input.text.slice(0, 100),
    body: input.html ?? `<p>${escapeHtml(input.text).replace(/\n/g, '<br>')}</p>`,
    text: input.text,
    subject: null,
    author: teammate(input.author),
    recipients: [
      ...input.to.map((handle) => recipient(handle, 'to')),
      ...(input.cc ?? []).map((handle) => recipient(handle, 'cc')),
      recipient(input.channelAddress ?? input.channelId, 'from'),
    ],
    attachments,
    metadata: { headers: { in_reply_to: null } },
    error_type: null,
    is_draft: false,
  };
}

/** The body of Front's `message` request for a teammate's message (attachments are hosted by addAttachment). */
export function messageRequest(input: FrontMessageInput & { id?: string }, addAttachment: ClientHost['addAttachment']) {
  const id = input.id ?? `msg_${hex(4)}`;
  const message = frontMessage(input, {}, addAttachment);
  const payload = { _links: { self: `${API}/messages/${id}`, related: message._links.related }, id, type: 'custom', ...withoutLinks(message) };
  return { type: 'message', payload, metadata: { external_conversation_ids: input.externalConversationIds ?? [] } };
}

export function createChannelClient(sim: ClientHost, options: { webhookUrl: string; apiKey: string }): FrontChannelClient {
  async function raw(request: RawRequest): Promise<ChannelResponse> {
    const body = request.body === undefined ? '' : typeof request.body === 'string' ? request.body : JSON.stringify(request.body);
    const timestamp = request.timestamp ?? String(Date.now());
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-front-request-timestamp': timestamp };
    const apiKey = request.apiKey === undefined ? options.apiKey : request.apiKey;
    if (apiKey !== null) headers.authorization = `Bearer ${apiKey}`;
    if (request.sign ?? true) headers['x-front-signature'] = signFrontRequest(request.secret ?? sim.appSecret, timestamp, body);
    const response = await fetch(options.webhookUrl, {
      method: request.method ?? 'POST',
      headers: { ...headers, ...request.headers },
      body,
      signal: request.signal,
    });
    const text = await response.text();
    return { status: response.status, headers: Object.fromEntries(response.headers), text, json: () => JSON.parse(text) as unknown };
  }

  const send = (method: string, body: unknown, { timestamp, signal }: SendOptions = {}) => raw({ method, body, timestamp, signal });

  return {
    async authorize(channelId, sendOptions) {
      sim.channels.add(channelId);
      const response = await send('POST', { type: 'authorization', payload: { channel_id: channelId } }, sendOptions);
      // Front sends the channel's later requests to the webhook_url the answer gave.
      const webhookUrl = response.status === 200 ? webhookUrlOf(response.text) : undefined;
      if (typeof webhookUrl === 'string') sim.channelWebhooks.set(channelId, createChannelClient(sim, { webhookUrl, apiKey: options.apiKey }));
      return response;
    },
    message(input, sendOptions) {
      return send('POST', messageRequest(input, sim.addAttachment), sendOptions);
    },
    autoreply(input, sendOptions) {
      const message = frontMessage(input, { message_replied_to: `${API}/messages/${input.repliedToId}` }, sim.addAttachment);
      const payload = { _links: message._links, type: 'auto_reply', ...withoutLinks(message) };
      return send('POST', { type: 'message_autoreply', payload, metadata: { external_conversation_ids: input.externalConversationIds ?? [] } }, sendOptions);
    },
    imported(imported, sendOptions = {}) {
      const id = sendOptions.id ?? `msg_${hex(4)}`;
      const inbound = imported.kind === 'inbound';
      const message = frontMessage(
        {
          channelId: imported.channelId,
          text: imported.body,
          // Inbound: the customer wrote to the channel; outbound: the channel wrote to them.
          to: inbound ? [imported.channelId] : imported.toHandles,
          channelAddress: inbound ? imported.senderHandle! : imported.channelId,
          createdAt: imported.deliveredAt ?? imported.at.getTime() / 1000,
          conversationId: sendOptions.conversationId,
          attachments: imported.attachments,
        },
        {},
        sim.addAttachment,
      );
      const payload = {
        _links: { self: `${API}/messages/${id}`, related: message._links.related },
        id,
        type: 'custom',
        ...withoutLinks(message),
        // Imports have no Front author (sent outside Front), and carry our external_id back.
        is_inbound: inbound,
        author: null,
        metadata: { external_id: imported.externalId, headers: { in_reply_to: null } },
      };
      const metadata = { external_conversation_id: imported.externalConversationId, external_conversation_ids: [imported.externalConversationId] };
      return send('POST', { type: 'message_imported', payload, metadata }, sendOptions);
    },
    delete(channelId, sendOptions) {
      sim.channelWebhooks.delete(channelId);
      return send('DELETE', { type: 'delete', payload: { channel_id: channelId } }, sendOptions);
    },
    raw,
  };
}

function webhookUrlOf(text: string): unknown {
  try {
    return (JSON.parse(text) as { webhook_url?: unknown } | null)?.webhook_url;
  } catch {
    return undefined;
  }
}

/** Lets callers put `_links`, `id` and `type` first, in Front's key order. */
function withoutLinks<T extends { _links: unknown }>(message: T): Omit<T, '_links'> {
  const { _links: _, ...rest } = message;
  return rest;
}
