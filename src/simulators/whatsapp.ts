/**
 * WhatsApp Cloud API (Meta Graph API) simulator: a real HTTP server that tests and the demo use
 * in place of graph.facebook.com. It serves sends (`POST /{version}/{phone-number-id}/messages`:
 * text, media, template, interactive, reactions, mark-as-read), media upload, lookup (a URL that
 * expires) and download, and the phone-number lookup `doctor` uses — behind a bearer token and
 * the shared fault injector. A driver API posts webhooks signed like Meta's
 * (`X-Hub-Signature-256`): inbound messages of every type and status callbacks.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { FaultInjector, type Fault } from './faults.ts';
import { flattenHeaders, sendJson } from './signalwire-wire.ts';

export interface WhatsAppRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  /** The JSON body, when there was one. */
  body: unknown;
  at: Date;
}

/** A message accepted by POST .../messages. */
export interface SentWhatsAppMessage {
  wamid: string;
  to: string;
  type: string;
  /** The request body as sent. */
  request: Record<string, unknown>;
  bizOpaqueCallbackData: string | null;
}

interface StoredMedia {
  id: string;
  mimeType: string;
  bytes: Buffer;
  /** A download URL token and when it stops working. */
  token: string;
  expiresAt: number;
}

export type InboundType =
  | 'text' | 'image' | 'audio' | 'video' | 'document' | 'sticker' | 'location' | 'contacts'
  | 'interactive' | 'button' | 'reaction' | 'unsupported';

export type StatusName = 'sent' | 'delivered' | 'read' | 'failed';

export interface WebhookResult {
  status: number;
  body: string;
}

export interface WhatsAppSimulator {
  /** http://127.0.0.1:<port>: the Graph API base URL (`--api-url`). */
  url: string;
  accessToken: string;
  appSecret: string;
  phoneNumberId: string;
  /** Digits, no `+`, as Meta writes it in webhooks. */
  displayPhoneNumber: string;
  wabaId: string;
  faults: FaultInjector;
  /** Every API request received (not the webhooks the simulator sends). */
  requests: WhatsAppRequest[];
  /** Recipients answered with 131047 (more than 24 hours since their last message). */
  windowClosed: Set<string>;
  /** Recipients answered with 131026 (not on WhatsApp). */
  undeliverable: Set<string>;
  /** Wamids marked read through POST .../messages. */
  markedRead: string[];
  /**
   * Whether `failed` receipts echo biz_opaque_callback_data. Meta documents the echo for
   * sent/delivered/read only, so by default they do not: code must not rely on it.
   */
  echoOpaqueOnFailed: boolean;
  /** How long a media URL from GET /{media-id} works (Meta: about 5 minutes). */
  mediaUrlTtlMs: number;
  sent(): SentWhatsAppMessage[];
  /** Store media as if a user had sent it; returns its media id. */
  addMedia(bytes: Buffer, mimeType: string): string;
  /** Build an inbound message (with defaults for its type) and POST it as a signed webhook. */
  receiveInbound(
    input: { from: string; type: InboundType; name?: string; fields?: Record<string, unknown> },
    webhookUrl: string,
  ): Promise<WebhookResult & { message: Record<string, unknown> }>;
  /** POST a signed status callback for a wamid (ours or not); carries back biz_opaque_callback_data of our sends. */
  sendStatus(
    wamid: string,
    status: StatusName,
    webhookUrl: string,
    options?: { recipient?: string; errorCode?: number; errorTitle?: string },
  ): Promise<WebhookResult & { statusObject: Record<string, unknown> }>;
  /** The webhook envelope Meta wraps messages or statuses in. */
  envelope(value: { messages?: unknown[]; statuses?: unknown[]; contacts?: unknown[] }): Record<string, unknown>;
  /** POST a raw body signed with the app secret (or with `signature`, to test refusals). */
  postWebhook(webhookUrl: string, body: string, options?: { signature?: string | null }): Promise<WebhookResult>;
  close(): Promise<void>;
}

const WEBHOOK_TIMEOUT_MS = 5_000;
const TEXT_LIMIT = 4096;
const OPAQUE_LIMIT = 512;
const SEND_TYPES = new Set(['text', 'image', 'audio', 'video', 'document', 'sticker', 'template', 'interactive', 'reaction', 'location', 'contacts']);
const MEDIA_TYPES = new Set(['image', 'audio', 'video', 'document', 'sticker']);

/** `sha256=<hex HMAC-SHA256 of the raw body with the app secret>`, Meta's webhook signature. */
export function signWhatsAppPayload(appSecret: string, rawBody: string | Buffer): string {
  return `sha256=${createHmac('sha256', appSecret).update(rawBody).digest('hex')}`;
}

/** The webhook envelope Meta wraps messages or statuses of one business number in (also built by the bench's load generator). */
export function whatsAppEnvelope(
  number: { wabaId: string; displayPhoneNumber: string; phoneNumberId: string },
  value: { messages?: unknown[]; statuses?: unknown[]; contacts?: unknown[] },
): Record<string, unknown> {
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: number.wabaId,
        changes: [
          {
            field: 'messages',
            value: { messaging_product: 'whatsapp', metadata: { display_phone_number: number.displayPhoneNumber, phone_number_id: number.phoneNumberId }, ...value },
          },
        ],
      },
    ],
  };
}

/** Meta's Graph error body. */
export function graphError(code: number, message: string, details?: string): Record<string, unknown> {
  return {
    error: {
      message: `(#${code}) ${message}`,
      type: 'OAuthException',
      code,
      error_data: { messaging_product: 'whatsapp', details: details ?? message },
      fbtrace_id: `A${randomBytes(8).toString('hex')}`,
    },
  };
}

/** A fault answering with a coded Graph error, e.g. 130429 with Retry-After. */
export function graphErrorFault(code: number, options: { status?: number; message?: string; retryAfterS?: number } = {}): Fault {
  const headers: Record<string, string> = options.retryAfterS === undefined ? {} : { 'retry-after': String(options.retryAfterS) };
  return { kind: 'status', status: options.status ?? 400, body: graphError(code, options.message ?? `error ${code}`), headers };
}

const newWamid = () => `wamid.${randomBytes(24).toString('base64url')}`;
const unixSeconds = () => String(Math.floor(Date.now() / 1000));
const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/** Type-specific content of an inbound message, as Meta shapes it; `media` makes a downloadable media id. */
function inboundContent(type: InboundType, media: (mimeType: string) => string): Record<string, unknown> {
  const mediaObject = (mimeType: string, extra: Record<string, unknown> = {}) => {
    const id = media(mimeType);
    return { id, mime_type: mimeType, sha256: createHash('sha256').update(id).digest('base64'), ...extra };
  };
  switch (type) {
    case 'text':
      return { text: { body: 'hello' } };
    case 'image':
      return { image: mediaObject('image/jpeg', { caption: 'a photo' }) };
    case 'audio':
      return { audio: mediaObject('audio/ogg; codecs=opus', { voice: true }) };
    case 'video':
      return { video: mediaObject('video/mp4') };
    case 'document':
      return { document: mediaObject('application/pdf', { filename: 'letter.pdf' }) };
    case 'sticker':
      return { sticker: mediaObject('image/webp', { animated: false }) };
    case 'location':
      return { location: { latitude: -1.2921, longitude: 36.8219, name: 'Nairobi', address: 'Kenyatta Ave' } };
    case 'contacts':
      return { contacts: [{ name: { formatted_name: 'Auntie', first_name: 'Auntie' }, phones: [{ phone: '+254700000001', type: 'CELL' }] }] };
    case 'interactive':
      return { interactive: { type: 'button_reply', button_reply: { id: 'talk', title: 'Talk to someone' } } };
    case 'button':
      return { button: { payload: 'show-message', text: 'Show message' } };
    case 'reaction':
      return { reaction: { message_id: newWamid(), emoji: '❤️' } };
    case 'unsupported':
      return { errors: [{ code: 131051, title: 'Message type unknown', message: 'Message type unknown', error_data: { details: 'Message type is currently not supported.' } }] };
  }
}

/** Why a send body is refused (Graph code 100), or null when it is one Meta accepts. */
function invalidSend(body: Record<string, unknown>): string | null {
  const type = body.type ?? 'text';
  if (body.messaging_product !== 'whatsapp') return 'messaging_product must be "whatsapp"';
  if (typeof body.to !== 'string' || !/^\+?\d{5,15}$/.test(body.to)) return 'to must be a phone number or WhatsApp id';
  if (typeof type !== 'string' || !SEND_TYPES.has(type)) return `unsupported message type ${String(type)}`;
  const content = body[type];
  if (!isObject(content) && !(type === 'contacts' && Array.isArray(content))) return `${type} object is required`;
  if (body.biz_opaque_callback_data !== undefined && (typeof body.biz_opaque_callback_data !== 'string' || body.biz_opaque_callback_data.length > OPAQUE_LIMIT)) {
    return `biz_opaque_callback_data must be a string of at most ${OPAQUE_LIMIT} characters`;
  }
  if (type === 'text') {
    const text = (content as Record<string, unknown>).body;
    if (typeof text !== 'string' || text === '' || text.length > TEXT_LIMIT) return `text.body must be 1 to ${TEXT_LIMIT} characters`;
  }
  if (MEDIA_TYPES.has(type)) {
    const { id, link } = content as Record<string, unknown>;
    if ((id === undefined) === (link === undefined)) return `${type} needs exactly one of id and link`;
  }
  if (type === 'template') {
    const { name, language } = content as Record<string, unknown>;
    if (typeof name !== 'string' || !isObject(language) || typeof language.code !== 'string') return 'template needs name and language.code';
  }
  if (type === 'interactive') {
    const { type: kind, action } = content as Record<string, unknown>;
    if (!isObject(action)) return 'interactive.action is required';
    if (kind === 'button' && !(Array.isArray(action.buttons) && action.buttons.length >= 1 && action.buttons.length <= 3)) return 'reply buttons: 1 to 3';
    if (kind === 'list') {
      const sections = Array.isArray(action.sections) ? action.sections : [];
      const rows = sections.reduce<number>((n, s) => n + (isObject(s) && Array.isArray(s.rows) ? s.rows.length : 0), 0);
      if (rows < 1 || rows > 10) return 'list: 1 to 10 rows in total';
    }
    if (kind !== 'button' && kind !== 'list') return 'interactive.type must be button or list';
  }
  return null;
}

async function readRaw(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startWhatsAppSimulator(options: { accessToken?: string; appSecret?: string; phoneNumberId?: string } = {}): Promise<WhatsAppSimulator> {
  const sentMessages: SentWhatsAppMessage[] = [];
  const media = new Map<string, StoredMedia>();
  const agent = new Agent({ connect: { timeout: WEBHOOK_TIMEOUT_MS } });

  const storeMedia = (bytes: Buffer, mimeType: string): string => {
    const id = String(1e15 + Math.floor(Math.random() * 9e15));
    media.set(id, { id, mimeType, bytes, token: '', expiresAt: 0 });
    return id;
  };

  const sim: WhatsAppSimulator = {
    url: '',
    accessToken: options.accessToken ?? `EAAG${randomBytes(24).toString('hex')}`,
    appSecret: options.appSecret ?? randomBytes(16).toString('hex'),
    phoneNumberId: options.phoneNumberId ?? String(100000000000000 + Math.floor(Math.random() * 1e14)),
    displayPhoneNumber: '254700123456',
    wabaId: String(200000000000000 + Math.floor(Math.random() * 1e14)),
    faults: new FaultInjector(),
    requests: [],
    windowClosed: new Set(),
    undeliverable: new Set(),
    markedRead: [],
    echoOpaqueOnFailed: false,
    mediaUrlTtlMs: 5 * 60_000,
    sent: () => sentMessages.map((m) => structuredClone(m)),
    addMedia: storeMedia,

    envelope: (value) => whatsAppEnvelope(sim, value),

    async postWebhook(webhookUrl, body, { signature } = {}) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      const header = signature === undefined ? signWhatsAppPayload(sim.appSecret, body) : signature;
      if (header !== null) headers['x-hub-signature-256'] = header;
      const response = await request(webhookUrl, {
        method: 'POST',
        dispatcher: agent,
        headers,
        body,
        headersTimeout: WEBHOOK_TIMEOUT_MS,
        bodyTimeout: WEBHOOK_TIMEOUT_MS,
      });
      return { status: response.statusCode, body: await response.body.text() };
    },

    async receiveInbound({ from, type, name = 'Client', fields = {} }, webhookUrl) {
      const message = {
        from,
        id: newWamid(),
        timestamp: unixSeconds(),
        type,
        ...inboundContent(type, (mimeType) => storeMedia(randomBytes(64), mimeType)),
        ...fields,
      };
      const body = JSON.stringify(sim.envelope({ contacts: [{ profile: { name }, wa_id: from }], messages: [message] }));
      return { ...(await sim.postWebhook(webhookUrl, body)), message };
    },

    async sendStatus(wamid, status, webhookUrl, { recipient, errorCode, errorTitle } = {}) {
      const ours = sentMessages.find((m) => m.wamid === wamid);
      const statusObject: Record<string, unknown> = {
        id: wamid,
        status,
        timestamp: unixSeconds(),
        recipient_id: recipient ?? ours?.to.replace(/^\+/, '') ?? '254711000000',
      };
      if (status !== 'failed') {
        statusObject.conversation = { id: randomBytes(16).toString('hex'), origin: { type: 'service' } };
        statusObject.pricing = { billable: false, pricing_model: 'PMP', category: 'service', type: 'free_customer_service' };
      } else {
        const code = errorCode ?? 131026;
        const title = errorTitle ?? 'Message undeliverable';
        statusObject.errors = [{ code, title, message: title, error_data: { details: title }, href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/' }];
      }
      if (ours?.bizOpaqueCallbackData && (status !== 'failed' || sim.echoOpaqueOnFailed)) statusObject.biz_opaque_callback_data = ours.bizOpaqueCallbackData;
      const result = await sim.postWebhook(webhookUrl, JSON.stringify(sim.envelope({ statuses: [statusObject] })));
      return { ...result, statusObject };
    },

    async close() {
      sim.faults.releaseHanging();
      const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
      server.closeAllConnections();
      await closed;
      await agent.close();
    },
  };

  const fail = (res: ServerResponse, status: number, code: number, message: string, details?: string) =>
    sendJson(res, status, graphError(code, message, details));

  function send(res: ServerResponse, body: Record<string, unknown>): void {
    if (body.status === 'read') {
      if (body.messaging_product !== 'whatsapp' || typeof body.message_id !== 'string') return fail(res, 400, 100, 'Invalid parameter');
      sim.markedRead.push(body.message_id);
      return sendJson(res, 200, { success: true });
    }
    const invalid = invalidSend(body);
    if (invalid) return fail(res, 400, 100, `Invalid parameter: ${invalid}`);
    const to = String(body.to);
    const type = String(body.type ?? 'text');
    if (sim.undeliverable.has(to)) return fail(res, 400, 131026, 'Message undeliverable');
    if (sim.windowClosed.has(to) && type !== 'template') {
      return fail(res, 400, 131047, 'Re-engagement message', 'More than 24 hours have passed since the recipient last replied to the sender number.');
    }
    const wamid = newWamid();
    const opaque = typeof body.biz_opaque_callback_data === 'string' ? body.biz_opaque_callback_data : null;
    sentMessages.push({ wamid, to, type, request: structuredClone(body), bizOpaqueCallbackData: opaque });
    sendJson(res, 200, { messaging_product: 'whatsapp', contacts: [{ input: to, wa_id: to.replace(/^\+/, '') }], messages: [{ id: wamid, message_status: 'accepted' }] });
  }

  async function upload(res: ServerResponse, req: IncomingMessage, raw: Buffer): Promise<void> {
    const contentType = req.headers['content-type'] ?? '';
    if (!contentType.startsWith('multipart/form-data')) return fail(res, 400, 100, 'Invalid parameter: upload multipart/form-data');
    const form = await new Response(raw, { headers: { 'content-type': contentType } }).formData().catch(() => null);
    const file = form?.get('file');
    const mimeType = form?.get('type');
    if (!form || form.get('messaging_product') !== 'whatsapp' || !(file instanceof Blob) || typeof mimeType !== 'string') {
      return fail(res, 400, 100, 'Invalid parameter: file, type and messaging_product=whatsapp are required');
    }
    sendJson(res, 200, { id: storeMedia(Buffer.from(await file.arrayBuffer()), mimeType) });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const method = req.method ?? 'GET';
    const raw = await readRaw(req);
    let body: unknown = null;
    if ((req.headers['content-type'] ?? '').startsWith('application/json')) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        body = undefined;
      }
    }
    sim.requests.push({ method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: flattenHeaders(req.headers), body, at: new Date() });
    if (await sim.faults.apply(req, res)) return;

    // Download URLs carry their own token, and still need the bearer token, as Meta's do.
    const download = /^\/download\/(\d+)$/.exec(url.pathname);
    if (req.headers.authorization !== `Bearer ${sim.accessToken}`) return fail(res, 401, 190, 'Error validating access token: invalid or expired');
    if (download) {
      const item = media.get(download[1]!);
      if (!item || url.searchParams.get('token') !== item.token || Date.now() > item.expiresAt) return fail(res, 404, 100, 'URL expired or unknown');
      res.writeHead(200, { 'content-type': item.mimeType, 'content-length': item.bytes.length });
      return void res.end(item.bytes);
    }
    const [version, id, edge, ...extra] = url.pathname.split('/').slice(1);
    if (!version || !/^v\d+\.\d+$/.test(version) || !id || extra.length > 0) return fail(res, 400, 2500, 'Unknown path components');
    if (edge === 'messages' || edge === 'media') {
      if (method !== 'POST') return fail(res, 400, 100, 'Unsupported request method');
      if (id !== sim.phoneNumberId) return fail(res, 400, 100, `Unsupported post request. Object with ID '${id}' does not exist`);
      if (edge === 'media') return upload(res, req, raw);
      if (!isObject(body)) return fail(res, 400, 100, 'Invalid parameter: the body must be a JSON object');
      return send(res, body);
    }
    if (edge !== undefined) return fail(res, 400, 2500, 'Unknown path components');
    if (id === sim.phoneNumberId && method === 'GET') {
      return sendJson(res, 200, { id, display_phone_number: `+${sim.displayPhoneNumber}`, verified_name: 'Helpline', quality_rating: 'GREEN' });
    }
    const item = media.get(id);
    if (!item) return fail(res, 400, 100, `Object with ID '${id}' does not exist`);
    if (method === 'DELETE') {
      media.delete(id);
      return sendJson(res, 200, { success: true });
    }
    if (method !== 'GET') return fail(res, 400, 100, 'Unsupported request method');
    // Each lookup issues a fresh URL and retires the one before it.
    item.token = randomBytes(12).toString('hex');
    item.expiresAt = Date.now() + sim.mediaUrlTtlMs;
    sendJson(res, 200, {
      messaging_product: 'whatsapp',
      url: `${sim.url}/download/${id}?token=${item.token}`,
      mime_type: item.mimeType,
      sha256: createHash('sha256').update(item.bytes).digest('hex'),
      file_size: item.bytes.length,
      id,
    });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (res.headersSent) res.destroy();
      else fail(res, 500, 1, 'An unknown error occurred');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  sim.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return sim;
}
