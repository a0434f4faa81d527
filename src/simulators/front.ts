/**
 * Front simulator: a real HTTP server that stands in for Front's Channel API (imports into
 * `inbound_messages` / `outbound_messages`, attachment downloads, all behind the channel
 * JWT) in tests, the demo and benchmarks, and a client (`channelClient`, front-client.ts)
 * that plays Front sending signed requests to our channel webhook. Like Front, it tells a
 * channel about each import it processed with a `message_imported` request to the
 * webhook_url the channel's authorization answer gave, even when the import's own answer
 * was lost (a `lost-response` fault). Imports into one external conversation id of a channel
 * share one conversation (`cnv_…`), which a teammate can archive (`archive`, no event sent);
 * the channel JWT reads its messages (`GET /messages/{id | alt:uid:…}`) and conversations
 * (`GET /conversations/{id}`).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify } from 'jose';
import { API, createChannelClient, type FrontChannelClient } from './front-client.ts';
import { BadImport, parseImport, type ImportFile, type ImportKind, type ParsedImport } from './front-import.ts';
import { FaultInjector } from './faults.ts';

export { signFrontRequest } from './front-client.ts';
export type {
  ChannelResponse,
  FrontAutoreplyInput,
  FrontChannelClient,
  FrontMessageInput,
  FrontTeammate,
  RawRequest,
  SendOptions,
} from './front-client.ts';
export type { ImportFile, ImportKind } from './front-import.ts';

export interface FrontSimulatorOptions {
  appUid?: string;
  appSecret?: string;
}

export interface FrontAttachment {
  id: string;
  channelId: string;
  filename: string;
  contentType: string;
  bytes: Buffer;
}

/** An accepted import, as the inbox keeps it. */
export interface ImportedMessage extends ParsedImport {
  channelId: string;
  kind: ImportKind;
  messageUid: string;
  /** Front's `msg_…` id, named in the `message_imported` notice. */
  messageId: string;
  conversationId: string;
  at: Date;
}

/** A conversation imports created; `status` as the Core API reports it. */
export interface FrontConversation {
  id: string;
  channelId: string;
  externalConversationId: string;
  status: 'unassigned' | 'assigned' | 'archived' | 'deleted';
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  at: Date;
}

export interface FrontSimulator {
  /** http://127.0.0.1:<port>; our code uses it as FRONT_API_URL. */
  url: string;
  appUid: string;
  appSecret: string;
  /** Channel ids the Channel API answers for (`authorize` adds to it). */
  channels: Set<string>;
  /** Where each authorised channel's requests go (the webhook_url its authorization answer gave). */
  channelWebhooks: Map<string, FrontChannelClient>;
  /** Send `message_imported` after each import (default true; false: as if every notice were lost). */
  noticeImports: boolean;
  /** Every `message_imported` notice sent, with our webhook's answer (null: no answer). */
  notices: { externalId: string; status: number | null }[];
  /** Every accepted import, in order. */
  inbox: ImportedMessage[];
  /** The conversations imports made, by id. */
  conversations: Map<string, FrontConversation>;
  /** The conversation of a channel's external conversation id, if an import made it. */
  conversationOf(channelId: string, externalConversationId: string): FrontConversation | undefined;
  /** A teammate archives the conversation (Front's application event is not sent: the caller plays it, or drops it). */
  archive(conversationId: string): void;
  /** Every request received, faulted or not. */
  requests: RecordedRequest[];
  faults: FaultInjector;
  addAttachment(channelId: string, file: ImportFile): FrontAttachment & { url: string };
  channelClient(options: { webhookUrl: string; apiKey: string }): FrontChannelClient;
  /** Stops the server, dropping requests held open by `timeout` faults. */
  close(): Promise<void>;
}

/** Front rejects channel JWTs that expire further ahead than this. */
const MAX_JWT_LIFETIME_SECONDS = 30;

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

class HttpError extends Error {
  readonly status: number;
  readonly title: string;
  constructor(status: number, title: string, message: string) {
    super(message);
    this.status = status;
    this.title = title;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** Front's error envelope. */
function sendError(res: ServerResponse, error: HttpError): void {
  sendJson(res, error.status, { _error: { status: error.status, title: error.title, message: error.message } });
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startFrontSimulator(options: FrontSimulatorOptions = {}): Promise<FrontSimulator> {
  const appUid = options.appUid ?? `app_${hex(6)}`;
  const appSecret = options.appSecret ?? hex(32);
  const key = new TextEncoder().encode(appSecret);
  const attachments = new Map<string, FrontAttachment>();
  /** Conversations by channel and external conversation id. */
  const threads = new Map<string, FrontConversation>();
  const threadKey = (channelId: string, externalConversationId: string) => `${channelId}\n${externalConversationId}`;

  /** Checks `Authorization: Bearer <channel JWT>` as Front does; throws 401 otherwise. */
  async function verifyChannelJwt(req: IncomingMessage, channelId: string): Promise<void> {
    const unauthorized = (reason: string) => new HttpError(401, 'Unauthorized', reason);
    const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!match) throw unauthorized('Missing bearer token');
    const now = new Date();
    let exp: number;
    try {
      const { payload } = await jwtVerify(match[1]!, key, {
        algorithms: ['HS256'],
        issuer: appUid,
        subject: channelId,
        requiredClaims: ['jti', 'exp'],
        currentDate: now,
      });
      exp = payload.exp!;
    } catch (error) {
      throw unauthorized(`Invalid token: ${(error as Error).message}`);
    }
    if (exp - Math.floor(now.getTime() / 1000) > MAX_JWT_LIFETIME_SECONDS) {
      throw unauthorized(`Invalid token: "exp" must be at most ${MAX_JWT_LIFETIME_SECONDS} seconds ahead`);
    }
  }

  async function importMessage(req: IncomingMessage, res: ServerResponse, channelId: string, kind: ImportKind, raw: Buffer) {
    await verifyChannelJwt(req, channelId);
    if (!sim.channels.has(channelId)) throw new HttpError(404, 'Not found', 'Unknown channel');
    let parsed: ParsedImport;
    try {
      parsed = await parseImport(kind, req.headers, raw);
    } catch (error) {
      if (error instanceof BadImport) throw new HttpError(400, 'Bad request', error.message);
      throw error;
    }
    const messageUid = `uid_${hex(8)}`;
    let conversation = sim.conversationOf(channelId, parsed.externalConversationId);
    if (!conversation) {
      conversation = { id: `cnv_${hex(6)}`, channelId, externalConversationId: parsed.externalConversationId, status: 'unassigned' };
      sim.conversations.set(conversation.id, conversation);
      threads.set(threadKey(channelId, parsed.externalConversationId), conversation);
    }
    // A new message reopens an archived conversation, as in Front.
    if (conversation.status === 'archived') conversation.status = 'unassigned';
    const imported: ImportedMessage = { channelId, kind, messageUid, messageId: `msg_${hex(6)}`, conversationId: conversation.id, ...parsed, at: new Date() };
    sim.inbox.push(imported);
    sendJson(res, 202, { status: 'accepted', message_uid: messageUid });
    noticeImported(imported);
  }

  const noticesInFlight = new Set<Promise<void>>();

  /** Front's `message_imported` request, once the import is processed (after its answer, as Front does it asynchronously). */
  function noticeImported(imported: ImportedMessage): void {
    const channel = sim.channelWebhooks.get(imported.channelId);
    if (!channel || !sim.noticeImports) return;
    const notice = { externalId: imported.externalId, status: null as number | null };
    sim.notices.push(notice);
    const sending = channel
      .imported(imported, { id: imported.messageId, conversationId: imported.conversationId, signal: AbortSignal.timeout(10_000) })
      .then(
        (response) => void (notice.status = response.status),
        () => undefined,
      )
      .finally(() => noticesInFlight.delete(sending));
    noticesInFlight.add(sending);
  }

  async function downloadAttachment(req: IncomingMessage, res: ServerResponse, id: string) {
    const attachment = attachments.get(id);
    if (!attachment) throw new HttpError(404, 'Not found', 'Unknown attachment');
    await verifyChannelJwt(req, attachment.channelId);
    res.writeHead(200, { 'content-type': attachment.contentType, 'content-length': attachment.bytes.length });
    res.end(attachment.bytes);
  }

  /** `GET /messages/{msg_… | alt:uid:uid_…}`: an imported message, with its conversation's link. */
  async function getMessage(req: IncomingMessage, res: ServerResponse, ref: string) {
    const uid = /^alt:uid:(.+)$/.exec(ref)?.[1];
    const imported = sim.inbox.find((m) => (uid ? m.messageUid === uid : m.messageId === ref));
    if (!imported) throw new HttpError(404, 'Not found', 'Unknown message');
    // The channel's JWT reaches only that channel's resources.
    await verifyChannelJwt(req, imported.channelId);
    sendJson(res, 200, {
      _links: { self: `${API}/messages/${imported.messageId}`, related: { conversation: `${API}/conversations/${imported.conversationId}` } },
      id: imported.messageId,
      type: 'custom',
      is_inbound: imported.kind === 'inbound',
      created_at: imported.at.getTime() / 1000,
      body: imported.body,
      metadata: { external_id: imported.externalId },
    });
  }

  /** `GET /conversations/{id}`. */
  async function getConversation(req: IncomingMessage, res: ServerResponse, id: string) {
    const conversation = sim.conversations.get(id);
    if (!conversation) throw new HttpError(404, 'Not found', 'Unknown conversation');
    await verifyChannelJwt(req, conversation.channelId);
    sendJson(res, 200, { _links: { self: `${API}/conversations/${id}` }, id, subject: '', status: conversation.status, is_private: false });
  }

  type Handler = (req: IncomingMessage, res: ServerResponse, raw: Buffer) => Promise<void>;

  function route(method: string, pathname: string): Handler | HttpError {
    const imports = /^\/channels\/([^/]+)\/(inbound|outbound)_messages$/.exec(pathname);
    if (imports) {
      if (method !== 'POST') return new HttpError(405, 'Method not allowed', `${method} ${pathname}`);
      const channelId = decodeURIComponent(imports[1]!);
      const kind = imports[2] as ImportKind;
      return (req, res, raw) => importMessage(req, res, channelId, kind, raw);
    }
    const download = /^\/attachments\/([^/]+)$/.exec(pathname);
    if (download) {
      if (method !== 'GET') return new HttpError(405, 'Method not allowed', `${method} ${pathname}`);
      const id = decodeURIComponent(download[1]!);
      return (req, res) => downloadAttachment(req, res, id);
    }
    const read = /^\/(messages|conversations)\/([^/]+)$/.exec(pathname);
    if (read) {
      if (method !== 'GET') return new HttpError(405, 'Method not allowed', `${method} ${pathname}`);
      const id = decodeURIComponent(read[2]!);
      return read[1] === 'messages' ? (req, res) => getMessage(req, res, id) : (req, res) => getConversation(req, res, id);
    }
    return new HttpError(404, 'Not found', `No route for ${method} ${pathname}`);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    sim.requests.push({ method, path, headers: flatHeaders(req), body: raw, at: new Date() });
    const handler = route(method, new URL(path, 'http://front.invalid').pathname);
    if (handler instanceof HttpError) return sendError(res, handler);
    if (await sim.faults.apply(req, res)) return;
    try {
      await handler(req, res, raw);
    } catch (error) {
      if (error instanceof HttpError) return sendError(res, error);
      throw error;
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) return void res.destroy();
      sendError(res, new HttpError(500, 'Internal server error', (error as Error).message));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const sim: FrontSimulator = {
    url,
    appUid,
    appSecret,
    channels: new Set(),
    channelWebhooks: new Map(),
    noticeImports: true,
    notices: [],
    inbox: [],
    conversations: new Map(),
    conversationOf: (channelId, externalConversationId) => threads.get(threadKey(channelId, externalConversationId)),
    archive(conversationId) {
      const conversation = sim.conversations.get(conversationId);
      if (!conversation) throw new Error(`no conversation ${conversationId}`);
      conversation.status = 'archived';
    },
    requests: [],
    faults: new FaultInjector(),
    addAttachment(channelId, file) {
      const attachment: FrontAttachment = { id: `fil_${hex(6)}`, channelId, ...file };
      attachments.set(attachment.id, attachment);
      return { ...attachment, url: `${url}/attachments/${attachment.id}` };
    },
    channelClient: (clientOptions) => createChannelClient(sim, clientOptions),
    async close() {
      await Promise.all(noticesInFlight);
      sim.faults.releaseHanging();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
  return sim;
}
