/**
 * RapidPro (and Weni Flows) workspace simulator: a real HTTP server that tests and the demo use
 * in place of a RapidPro host. It serves API v2 (`/api/v2/<endpoint>.json`: messages, broadcasts,
 * contacts, contact_actions, groups, flows, flow_starts) behind `Authorization: Token`, with the
 * workspace's shared rate budget (429 + Retry-After) and per-endpoint fault injection. Outgoing
 * messages move queued → wired → sent → delivered (or errored → failed) on demand or over time.
 * A bot driver plays the chatbot platform against Switchboard's chatbot-facing API the way flow
 * webhooks do: 15 s timeout, no retry (or Weni's narrow retry rule), and the client's message also
 * lands in the workspace so that polling can recover what a dropped webhook lost.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { FaultInjector } from './faults.ts';
import { flattenHeaders, readBody, sendJson } from './signalwire-wire.ts';
import type { WhatsAppRequest } from './whatsapp.ts';

/** Upstream RapidPro/TextIt, or Weni Flows (a RapidPro v7 fork: no `POST messages.json`, broadcasts only). */
export type RapidProVariant = 'rapidpro' | 'weni';

/** The API v2 endpoints served; each has its own fault injector (`faultsFor`). */
export type RapidProEndpoint = 'messages' | 'broadcasts' | 'contacts' | 'contact_actions' | 'groups' | 'flows' | 'flow_starts';

export type OutgoingStatus = 'queued' | 'wired' | 'sent' | 'delivered' | 'read' | 'errored' | 'failed';
export type MessageStatus = OutgoingStatus | 'handled';

/** The workspace's request budget; RapidPro counts every token request of a workspace in one bucket. */
/**
 * Throttle scopes: RapidPro keeps one bucket per scope per workspace (`v2.messages`,
 * `v2.contacts`, everything else `v2`); Weni adds `v2.broadcasts` and `v2.flowstart`.
 */
export type RateScope = 'v2' | 'v2.messages' | 'v2.contacts' | 'v2.broadcasts' | 'v2.flowstart';

export interface RateBudget {
  /** Requests admitted per window. */
  requests: number;
  /** 'hour' is RapidPro's window; 'second' lets tests reach the limit quickly. */
  per: 'hour' | 'second';
}

export interface RapidProSimulatorOptions {
  /** The API token (default: random 40 hex characters, RapidPro's format). */
  token?: string;
  variant?: RapidProVariant;
  /** Default: 2,500 requests per hour per scope (RapidPro before Nov 2025 and Weni). Null: no limit. */
  rateLimit?: RateBudget | null;
  /** Budgets that replace `rateLimit` for a scope (Weni default: broadcasts 36,000 per hour). */
  scopeLimits?: Partial<Record<RateScope, RateBudget>>;
  /** Results per page of a list (RapidPro: 250 for messages). */
  pageSize?: number;
  /** The simulator's clock (epoch ms): message dates and the rate budget read it. */
  now?: () => number;
}

/** A request as received: method, path, query, headers, the JSON body, when. */
export type RapidProRequest = WhatsAppRequest;

export interface ContactRef {
  uuid: string;
  name: string | null;
}

/** A message as `GET|POST messages.json` returns it (RapidPro's message serializer). */
export interface RapidProMessage {
  id: number;
  uuid: string;
  broadcast: number | null;
  contact: ContactRef;
  urn: string | null;
  channel: { uuid: string; name: string } | null;
  direction: 'in' | 'out';
  type: 'text';
  status: MessageStatus;
  archived: boolean;
  visibility: 'visible' | 'archived';
  text: string;
  attachments: { content_type: string; url: string }[];
  quick_replies: { text: string; extra?: string }[];
  labels: { uuid: string; name: string }[];
  flow: { uuid: string; name: string } | null;
  created_on: string;
  sent_on: string | null;
  modified_on: string;
  /** Deprecated upstream: the first attachment as `content_type:url`. */
  media: string | null;
}

export interface RapidProContact {
  uuid: string;
  name: string | null;
  status: 'active' | 'blocked' | 'stopped' | 'archived';
  language: string | null;
  urns: string[];
  groups: { uuid: string; name: string }[];
  fields: Record<string, string | null>;
  flow: { uuid: string; name: string } | null;
  created_on: string;
  modified_on: string;
  last_seen_on: string | null;
}

export interface RapidProGroup {
  uuid: string;
  name: string;
  query: string | null;
  status: 'ready';
  system: boolean;
  count: number;
}

export interface RapidProFlow {
  uuid: string;
  name: string;
}

export type FlowStartStatus = 'pending' | 'queued' | 'started' | 'completed' | 'failed' | 'interrupted';

/** A record of `POST flow_starts.json`, as RapidPro returns it. */
export interface RapidProFlowStart {
  uuid: string;
  flow: { uuid: string; name: string };
  status: FlowStartStatus;
  groups: { uuid: string; name: string }[];
  contacts: ContactRef[];
  restart_participants: boolean;
  exclude_active: boolean;
  params: Record<string, unknown>;
  /** The old name of `params`, still returned. */
  extra: Record<string, unknown>;
  created_on: string;
  modified_on: string;
}

/** One call the bot made (or meant to make) to the chatbot-facing API. */
export interface BotCall {
  method: 'POST' | 'GET';
  /** Relative to `apiBaseUrl`, e.g. `chat/` or `chat/s1/close/`. */
  path: string;
  body: unknown;
  /**
   * answered: an HTTP status came back (any status: the flow only branches on it);
   * dropped: the fault injection chose not to send it; timeout: no answer within the
   * timeout; error: the connection failed.
   */
  outcome: 'answered' | 'dropped' | 'timeout' | 'error';
  status: number | null;
  /** The parsed JSON answer, or the raw text when it was not JSON. */
  response: unknown;
  /** 0 for the first try; retries (Weni's rule) are recorded as further calls. */
  attempt: number;
  at: Date;
}

export interface ChatbotDriverOptions {
  /** Switchboard's `api_base_url` (ends with `/`). */
  apiBaseUrl: string;
  username: string;
  password: string;
  /** `chat_source` (the seed uses "WENI"). */
  source?: string;
  /** Per call, like mailroom's webhook timeout (15 s). */
  timeoutMs?: number;
  /** Fraction of chat/ calls (messages, closes, acks) not sent at all, to exercise polling recovery. */
  dropRate?: number;
  random?: () => number;
  /**
   * none: mailroom since v10.3.0 never retries a webhook. weni (the default for the Weni
   * variant): Weni's mailroom keeps the old rule — up to 2 retries, after `retryBackoffMs`, only
   * when the answer's Retry-After is no longer than the backoff, or when the call carries an
   * Idempotency-Key and failed at the network or with a status above 501.
   */
  retries?: 'none' | 'weni';
  /** Send `Idempotency-Key: <message_id>` with chat/ messages, as a flow author may add. */
  idempotencyKey?: boolean;
  /** Backoffs before the first and second retry (mailroom: about 5 s and 10 s, ±50% jitter, here none). */
  retryBackoffMs?: [number, number];
}

export interface BotMessage {
  /** The RapidPro contact UUID (`@contact.uuid`), where replies go. */
  contact: string;
  text: string;
  /** `chat_session`: the conversation id. */
  session: string;
  /** `message_id`; default: the UUID of the incoming message recorded in the workspace. */
  messageId?: string;
  pseudonym?: string;
  /** `chat_sender` (default: the contact UUID) and `chat_receiver` (default: "helpline"). */
  sender?: string;
  receiver?: string;
}

/**
 * The chatbot platform, driven by tests: each method is one flow "Call Webhook" against
 * Switchboard's chatbot-facing API with `Authorization: Token`, fetched by `token()` and
 * fetched again once on a 401. Otherwise a call is not retried, except under Weni's rule
 * (`retries: 'weni'`).
 */
export interface ChatbotDriver {
  readonly calls: BotCall[];
  /** The current API token (null before the first `token()`). */
  readonly apiToken: string | null;
  dropRate: number;
  /** Drop this many of the next chat/ calls (before `dropRate` applies). */
  dropNext: number;
  /** POST token/ with the credentials; returns the token, or throws on any non-200 answer. */
  token(): Promise<string>;
  /**
   * The client said `text`: record it in the workspace as an incoming message (handled by the
   * flow), then POST chat/ with the seed's fields plus message_id, contact and pseudonym.
   */
  say(input: BotMessage): Promise<{ message: RapidProMessage; call: BotCall }>;
  /** POST chat/<session>/close/ with `{chat_source}`. */
  close(session: string): Promise<BotCall>;
  /** POST chat/<session>/ack/ with `{message_id, status}`. */
  ack(session: string, messageId: string, status: 'delivered' | 'read' | 'failed'): Promise<BotCall>;
  /** GET chat/. */
  listChats(): Promise<BotCall>;
}

export interface RapidProSimulator {
  /** http://127.0.0.1:<port>: the workspace's base URL (`--rapidpro-url`). */
  url: string;
  token: string;
  variant: RapidProVariant;
  /** Faults for every endpoint, applied before the endpoint's own (`faultsFor`). */
  faults: FaultInjector;
  faultsFor(endpoint: RapidProEndpoint): FaultInjector;
  /** The budget of each scope's bucket; change at any time; null: no limit. */
  rateLimit: RateBudget | null;
  scopeLimits: Partial<Record<RateScope, RateBudget>>;
  /** Authenticated requests counted against the budgets, and those refused with 429, in all and per scope. */
  readonly usage: { requests: number; throttled: number; byScope: Partial<Record<RateScope, { requests: number; throttled: number }>> };
  /** Every API request received, in order. */
  requests: RapidProRequest[];
  pageSize: number;
  /** Outgoing messages to these contacts (UUIDs) go errored → failed instead of being delivered (decided when sent). */
  failingContacts: Set<string>;
  /** Then, at this probability, any outgoing message fails. */
  failureRate: number;
  /** When set, a timer moves each outgoing message one status further every `ms`. */
  autoProgressMs: number | null;
  /** Contacts whose runs were interrupted through contact_actions, in order (UUIDs). */
  interrupted: string[];
  /**
   * Move an outgoing message (by uuid or id) one step along its path, or straight to `to`;
   * returns the message. Final statuses (delivered, read, failed) stay.
   */
  advance(message: string | number, to?: OutgoingStatus): RapidProMessage;
  /**
   * Advance every outgoing message that is not final (returns how many moved), and each flow
   * start one status along pending → queued → started → completed.
   */
  advanceAll(): number;
  /** All messages, newest first (snapshots). */
  messages(): RapidProMessage[];
  /** Outgoing messages, oldest first (snapshots). */
  sent(): RapidProMessage[];
  message(ref: string | number): RapidProMessage | undefined;
  addContact(input: { urn: string; name?: string; uuid?: string }): RapidProContact;
  contact(uuidOrUrn: string): RapidProContact | undefined;
  addGroup(name: string): RapidProGroup;
  /** The UUIDs of the contacts in a group. */
  members(groupUuid: string): string[];
  addFlow(name: string): RapidProFlow;
  flowStarts(): RapidProFlowStart[];
  /** The client sent `text` (direction in, status handled); `flow` makes it a flow's message. */
  clientSays(contact: string, text: string, options?: { flow?: string }): RapidProMessage;
  /**
   * A chatbot driver against Switchboard's chatbot-facing API. Each driver adds a flow, "Talk to
   * a counsellor", that its clients' messages belong to (so they list in the `flows` folder).
   */
  bot(options: ChatbotDriverOptions): ChatbotDriver;
  close(): Promise<void>;
}

/** Mailroom's webhook timeout (`WebhooksTimeout`, 15,000 ms upstream and in Weni's fork). */
const WEBHOOK_TIMEOUT_MS = 15_000;
const DEFAULT_BUDGET: RateBudget = { requests: 2_500, per: 'hour' };
const DEFAULT_PAGE_SIZE = 250;
/** RapidPro caps contacts, groups and URNs per request at 100 each. */
const MAX_PER_REQUEST = 100;
/** Msg.MAX_TEXT_LEN upstream; Weni's broadcasts document 640. */
const MAX_TEXT = 4096;
const WENI_MAX_TEXT = 640;
const CONTACT_ACTIONS = new Set(['add', 'remove', 'block', 'unblock', 'interrupt', 'archive_messages', 'archive', 'delete']);
const ENDPOINTS = new Set<RapidProEndpoint>(['messages', 'broadcasts', 'contacts', 'contact_actions', 'groups', 'flows', 'flow_starts']);
const SUCCESS_PATH: OutgoingStatus[] = ['queued', 'wired', 'sent', 'delivered'];
const FAILURE_PATH: OutgoingStatus[] = ['queued', 'errored', 'failed'];
const FINAL = new Set<MessageStatus>(['delivered', 'read', 'failed', 'handled']);
const FLOW_START_PATH: FlowStartStatus[] = ['pending', 'queued', 'started', 'completed'];
/** Which outgoing statuses each folder holds; incoming messages go to inbox or flows. */
const OUT_FOLDERS: Record<string, Set<MessageStatus>> = {
  outbox: new Set(['queued', 'errored']),
  sent: new Set(['wired', 'sent', 'delivered', 'read']),
  failed: new Set(['failed']),
};

/** RapidPro's timestamps: ISO 8601 in UTC with microseconds. */
const iso = (ms: number): string => new Date(ms).toISOString().replace('Z', '000Z');
const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

interface StoredMessage {
  message: RapidProMessage;
  /** Epoch ms of created_on, the list order. */
  at: number;
  path: OutgoingStatus[] | null;
}

/** A refusal RapidPro words as DRF does: `{field: [message]}` or `{detail: message}`. */
class ApiError extends Error {
  readonly status: number;
  readonly body: Record<string, unknown>;
  constructor(status: number, body: Record<string, unknown>) {
    super(JSON.stringify(body));
    this.status = status;
    this.body = body;
  }
}
const invalid = (field: string, message: string) => new ApiError(400, { [field]: [message] });
const noSuchObject = (field: string, value: unknown) => invalid(field, `No such object: ${String(value)}`);

/** Opaque cursors in DRF's style: base64 of a position (`p=`), here created_on ms and id. */
const encodeCursor = (at: number, id: number): string => Buffer.from(`p=${at}.${id}`).toString('base64');
function decodeCursor(cursor: string): { at: number; id: number } {
  const match = /^p=(\d+)\.(\d+)$/.exec(Buffer.from(cursor, 'base64').toString('utf8'));
  if (!match) throw new ApiError(404, { detail: 'Invalid cursor' });
  return { at: Number(match[1]), id: Number(match[2]) };
}

/** `before`/`after` are inclusive; an unparseable date matches nothing (RapidPro's filter_before_after). */
function dateRange(query: URLSearchParams): (ms: number) => boolean {
  const bound = (name: string) => (query.get(name) ? Date.parse(query.get(name)!) : null);
  const before = bound('before');
  const after = bound('after');
  if (Number.isNaN(before) || Number.isNaN(after)) return () => false;
  return (ms) => (before === null || ms <= before) && (after === null || ms >= after);
}

const UUID_PATTERN = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const badQuery = (detail: string) => new ApiError(400, { detail });

/** Which throttle bucket an endpoint's requests count in. */
function scopeOf(endpoint: RapidProEndpoint, variant: RapidProVariant): RateScope {
  if (endpoint === 'messages') return 'v2.messages';
  if (endpoint === 'contacts') return 'v2.contacts';
  if (variant === 'weni' && endpoint === 'broadcasts') return 'v2.broadcasts';
  if (variant === 'weni' && endpoint === 'flow_starts') return 'v2.flowstart';
  return 'v2';
}

export async function startRapidProSimulator(options: RapidProSimulatorOptions = {}): Promise<RapidProSimulator> {
  const now = options.now ?? Date.now;
  const store = new Map<number, StoredMessage>();
  const byUuid = new Map<string, number>();
  const contacts = new Map<string, RapidProContact>();
  const groups = new Map<string, { group: RapidProGroup; members: Set<string> }>();
  const flows = new Map<string, RapidProFlow>();
  const starts: RapidProFlowStart[] = [];
  const endpointFaults = new Map<RapidProEndpoint, FaultInjector>();
  const admitted = new Map<RateScope, number[]>();
  const usage: RapidProSimulator['usage'] = { requests: 0, throttled: 0, byScope: {} };
  let nextId = 1000;
  let autoProgressMs: number | null = null;
  let timer: NodeJS.Timeout | null = null;
  const channel = { uuid: randomUUID(), name: 'WhatsApp' };

  /** Creation order of contacts, the tie-break of their list after modified_on. */
  const contactSeq = new Map<string, number>();
  const contactRef = (c: RapidProContact): ContactRef => ({ uuid: c.uuid, name: c.name });
  const touch = (c: RapidProContact) => void (c.modified_on = iso(now()));
  const findContact = (ref: string): RapidProContact | undefined =>
    contacts.get(ref) ?? [...contacts.values()].find((c) => c.urns.includes(ref));
  const findGroup = (ref: string) => groups.get(ref) ?? [...groups.values()].find((g) => g.group.name === ref);
  const entryOf = (ref: string | number): StoredMessage | undefined =>
    store.get(typeof ref === 'number' ? ref : (byUuid.get(ref) ?? Number.NaN));

  function addMessage(contact: RapidProContact, fields: Partial<RapidProMessage> & { direction: 'in' | 'out'; text: string }): StoredMessage {
    const at = now();
    const failing = fields.direction === 'out' && (sim.failingContacts.has(contact.uuid) || Math.random() < sim.failureRate);
    const message: RapidProMessage = {
      id: nextId++,
      uuid: randomUUID(),
      broadcast: null,
      contact: contactRef(contact),
      urn: contact.urns[0] ?? null,
      channel,
      type: 'text',
      status: fields.direction === 'out' ? 'queued' : 'handled',
      archived: false,
      visibility: 'visible',
      attachments: [],
      quick_replies: [],
      labels: [],
      flow: null,
      created_on: iso(at),
      sent_on: null,
      modified_on: iso(at),
      media: null,
      ...fields,
    };
    const first = message.attachments[0];
    if (first) message.media = `${first.content_type}:${first.url}`;
    const entry: StoredMessage = { message, at, path: fields.direction === 'out' ? (failing ? FAILURE_PATH : SUCCESS_PATH) : null };
    store.set(message.id, entry);
    byUuid.set(message.uuid, message.id);
    if (fields.direction === 'in') contact.last_seen_on = message.created_on;
    return entry;
  }

  function move(entry: StoredMessage, to?: OutgoingStatus): boolean {
    const { message, path } = entry;
    if (!path) throw new Error(`RapidPro simulator: message ${message.id} is incoming`);
    const next = to ?? (FINAL.has(message.status) ? undefined : path[path.indexOf(message.status as OutgoingStatus) + 1]);
    if (!next || next === message.status) return false;
    message.status = next;
    message.modified_on = iso(now());
    if (next !== 'queued' && next !== 'errored' && next !== 'failed') message.sent_on ??= message.modified_on;
    return true;
  }

  /** A cursor page, newest first; `next` keeps the request's filters. Backward (`previous`) links are not simulated. */
  function paginate<T>(req: URL, items: { at: number; id: number; json: T }[]): { next: string | null; previous: null; results: T[] } {
    const sorted = items.sort((a, b) => b.at - a.at || b.id - a.id);
    const cursor = req.searchParams.get('cursor');
    let from = 0;
    if (cursor !== null) {
      const position = decodeCursor(cursor);
      from = sorted.findIndex((item) => item.at < position.at || (item.at === position.at && item.id < position.id));
      if (from < 0) from = sorted.length;
    }
    const page = sorted.slice(from, from + sim.pageSize);
    const last = page.at(-1);
    let next: string | null = null;
    if (last && from + page.length < sorted.length) {
      const url = new URL(req.pathname, sim.url);
      for (const [name, value] of req.searchParams) if (name !== 'cursor') url.searchParams.append(name, value);
      url.searchParams.set('cursor', encodeCursor(last.at, last.id));
      next = url.toString();
    }
    return { next, previous: null, results: page.map((item) => item.json) };
  }

  /** Contacts by UUID or URN from a request field, each known or refused. */
  function contactsFrom(field: string, value: unknown, createUrns = false): RapidProContact[] {
    if (value === undefined) return [];
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw invalid(field, 'Expected a list of items.');
    if (value.length > MAX_PER_REQUEST) throw invalid(field, `Ensure this field has no more than ${MAX_PER_REQUEST} elements.`);
    return (value as string[]).map((ref) => {
      const found = findContact(ref);
      if (found) return found;
      if (createUrns && /^[a-z]+:.+/.test(ref)) return sim.addContact({ urn: ref });
      throw noSuchObject(field, ref);
    });
  }

  /** The message as the API shows it: Weni's fork (RapidPro v7) has no uuid or quick replies and types messages inbox/flow. */
  function apiMessage(m: RapidProMessage): Record<string, unknown> {
    if (sim.variant === 'rapidpro') return structuredClone(m) as unknown as Record<string, unknown>;
    const { uuid: _uuid, quick_replies: _replies, flow: _flow, ...rest } = structuredClone(m);
    return { ...rest, type: m.flow ? 'flow' : 'inbox' };
  }

  function listMessages(url: URL) {
    const q = url.searchParams;
    const exclusive = ['contact', 'folder', 'label', 'broadcast'];
    if (exclusive.filter((name) => q.get(name)).length > 1) throw badQuery(`You may only specify one of the ${exclusive.join(', ')} parameters`);
    // Weni's list has no uuid filter and ignores the parameter (every message matches); it filters by urn instead.
    const weni = sim.variant === 'weni';
    const uuid = weni ? null : q.get('uuid');
    if (uuid && !UUID_PATTERN.test(uuid)) throw badQuery(`Param 'uuid': ${uuid} is not a valid UUID.`);
    const urn = weni ? q.get('urn') : null;
    const id = q.get('id');
    if (id !== null && !/^-?\d+$/.test(id)) throw badQuery('Value for id must be an integer');
    const folder = q.get('folder')?.toLowerCase() ?? null;
    const inRange = dateRange(q);
    const picked = [...store.values()].filter(({ message: m, at }) => {
      if (uuid && m.uuid.toLowerCase() !== uuid.toLowerCase()) return false;
      if (id !== null && m.id !== Number(id)) return false;
      if (q.get('contact') && m.contact.uuid !== q.get('contact')) return false;
      if (urn && m.urn !== urn) return false;
      if (q.get('broadcast') && String(m.broadcast) !== q.get('broadcast')) return false;
      if (q.get('label')) return false;
      if (!inRange(at)) return false;
      if (folder === null) return true;
      if (folder === 'archived') return m.visibility === 'archived';
      if (m.visibility !== 'visible') return false;
      if (m.direction === 'in') return folder === (m.flow ? 'flows' : 'inbox');
      return OUT_FOLDERS[folder]?.has(m.status) ?? false;
    });
    // The sent folder is ordered by sent_on, every other list by created_on.
    const key = (e: StoredMessage) => (folder === 'sent' ? Date.parse(e.message.sent_on ?? e.message.created_on) : e.at);
    return paginate(url, picked.map((e) => ({ at: key(e), id: e.message.id, json: apiMessage(e.message) })));
  }

  function sendMessage(body: Record<string, unknown>): RapidProMessage {
    if (typeof body.contact !== 'string') throw invalid('contact', 'This field is required.');
    const contact = findContact(body.contact);
    if (!contact) throw noSuchObject('contact', body.contact);
    const text = body.text ?? '';
    if (typeof text !== 'string') throw invalid('text', 'Not a valid string.');
    if (text.length > MAX_TEXT) throw invalid('text', `Ensure this field has no more than ${MAX_TEXT} characters.`);
    const attachments = attachmentsFrom(body.attachments);
    if (text === '' && attachments.length === 0) throw invalid('non_field_errors', 'Must provide either text or attachments.');
    return structuredClone(addMessage(contact, { direction: 'out', text, attachments, quick_replies: quickRepliesFrom(body.quick_replies) }).message);
  }

  /** Attachments are media UUIDs (uploaded with media.json, which the simulator does not store); each is shown as a URL. */
  function attachmentsFrom(value: unknown): RapidProMessage['attachments'] {
    if (value === undefined) return [];
    if (!Array.isArray(value) || value.length > 10 || value.some((v) => typeof v !== 'string')) throw invalid('attachments', 'Expected a list of at most 10 media UUIDs.');
    return (value as string[]).map((uuid) => ({ content_type: 'application/octet-stream', url: `${sim.url}/media/${uuid}` }));
  }

  /** Quick replies are objects `{text, extra?}` (text ≤ 64); plain strings, as older versions took, are accepted too. */
  function quickRepliesFrom(value: unknown): RapidProMessage['quick_replies'] {
    if (value === undefined) return [];
    if (!Array.isArray(value) || value.length > 10) throw invalid('quick_replies', 'Ensure this field has no more than 10 elements.');
    return value.map((v) => {
      const reply: Record<string, unknown> = isObject(v) ? v : { text: v };
      if (typeof reply.text !== 'string' || reply.text === '' || reply.text.length > 64) throw invalid('quick_replies', 'Each quick reply needs a text of 1 to 64 characters.');
      return typeof reply.extra === 'string' ? { text: reply.text, extra: reply.extra } : { text: reply.text };
    });
  }

  function broadcast(body: Record<string, unknown>) {
    const recipients = new Map<string, RapidProContact>();
    for (const c of [...contactsFrom('urns', body.urns, true), ...contactsFrom('contacts', body.contacts)]) recipients.set(c.uuid, c);
    const groupRefs = body.groups === undefined ? [] : Array.isArray(body.groups) ? body.groups : null;
    if (!groupRefs) throw invalid('groups', 'Expected a list of items.');
    const sentGroups = groupRefs.map((ref) => {
      const group = typeof ref === 'string' ? findGroup(ref) : undefined;
      if (!group) throw noSuchObject('groups', ref);
      for (const uuid of group.members) recipients.set(uuid, contacts.get(uuid)!);
      return { uuid: group.group.uuid, name: group.group.name };
    });
    if (recipients.size === 0 && sentGroups.length === 0) throw invalid('non_field_errors', 'Must provide either urns, contacts or groups.');
    // Current RapidPro takes translations keyed by language; older versions (Weni) a plain string.
    const baseLanguage = typeof body.base_language === 'string' ? body.base_language : 'eng';
    const translations = typeof body.text === 'string' ? { [baseLanguage]: body.text } : body.text;
    const text = isObject(translations) ? translations[baseLanguage] : undefined;
    const limit = sim.variant === 'weni' ? WENI_MAX_TEXT : MAX_TEXT;
    if (typeof text !== 'string' || text === '' || text.length > limit) throw invalid('text', `Must provide text of 1 to ${limit} characters in the base language.`);
    const id = nextId++;
    for (const contact of recipients.values()) addMessage(contact, { direction: 'out', text, broadcast: id });
    return {
      id,
      uuid: randomUUID(),
      urns: [...recipients.values()].flatMap((c) => c.urns.slice(0, 1)),
      contacts: [...recipients.values()].map(contactRef),
      groups: sentGroups,
      text: translations,
      attachments: {},
      base_language: baseLanguage,
      status: 'queued',
      created_on: iso(now()),
    };
  }

  function contactAction(body: Record<string, unknown>): void {
    if (body.contacts === undefined) throw invalid('contacts', 'This field is required.');
    const targets = contactsFrom('contacts', body.contacts);
    if (targets.length === 0) throw invalid('contacts', "Contacts can't be empty.");
    const action = body.action;
    if (typeof action !== 'string' || !CONTACT_ACTIONS.has(action)) throw invalid('action', `"${String(action)}" is not a valid choice.`);
    const withGroup = action === 'add' || action === 'remove';
    if (withGroup !== (body.group !== undefined && body.group !== null)) {
      throw invalid('non_field_errors', `For action "${action}" you should ${withGroup ? 'also' : 'not'} specify a group`);
    }
    if (withGroup) {
      const group = typeof body.group === 'string' ? findGroup(body.group) : undefined;
      if (!group) throw noSuchObject('group', body.group);
      const inactive = targets.filter((c) => c.status !== 'active').map((c) => c.uuid);
      if (action === 'add' && inactive.length > 0) throw invalid('non_field_errors', `Non-active contacts cannot be added to groups: ${inactive.join(', ')}`);
      for (const contact of targets) {
        if (action === 'add') group.members.add(contact.uuid);
        else group.members.delete(contact.uuid);
        contact.groups = contact.groups.filter((g) => g.uuid !== group.group.uuid);
        if (action === 'add') contact.groups.push({ uuid: group.group.uuid, name: group.group.name });
        touch(contact);
      }
      group.group.count = group.members.size;
      return;
    }
    if (action === 'interrupt') {
      for (const contact of targets) {
        contact.flow = null;
        touch(contact);
        sim.interrupted.push(contact.uuid);
      }
      return;
    }
    if (action === 'block' || action === 'unblock') {
      for (const contact of targets) {
        contact.status = action === 'block' ? 'blocked' : 'active';
        touch(contact);
      }
      return;
    }
    if (action === 'delete') {
      for (const contact of targets) {
        contacts.delete(contact.uuid);
        for (const { members } of groups.values()) members.delete(contact.uuid);
      }
      for (const { group, members } of groups.values()) group.count = members.size;
      return;
    }
    // archive_messages (and its old name archive): the contacts' incoming messages leave the inbox.
    const uuids = new Set(targets.map((c) => c.uuid));
    for (const { message } of store.values()) {
      if (message.direction === 'in' && uuids.has(message.contact.uuid)) {
        message.visibility = 'archived';
        message.archived = true;
      }
    }
  }

  function startFlow(body: Record<string, unknown>): RapidProFlowStart {
    const flow = typeof body.flow === 'string' ? flows.get(body.flow) : undefined;
    if (!flow) throw body.flow === undefined ? invalid('flow', 'This field is required.') : noSuchObject('flow', body.flow);
    const targets = new Map<string, RapidProContact>();
    for (const c of [...contactsFrom('contacts', body.contacts), ...contactsFrom('urns', body.urns, true)]) targets.set(c.uuid, c);
    const groupRefs = body.groups === undefined ? [] : Array.isArray(body.groups) ? body.groups : null;
    if (!groupRefs) throw invalid('groups', 'Expected a list of items.');
    const startGroups = groupRefs.map((ref) => {
      const group = typeof ref === 'string' ? findGroup(ref) : undefined;
      if (!group) throw noSuchObject('groups', ref);
      return { uuid: group.group.uuid, name: group.group.name };
    });
    if (targets.size === 0 && startGroups.length === 0) throw invalid('non_field_errors', 'Must specify at least one group, contact or URN');
    const params = body.params ?? body.extra ?? {};
    if (!isObject(params)) throw invalid(body.params === undefined ? 'extra' : 'params', 'Must be a valid JSON object');
    if (JSON.stringify(params).length > 10_000) throw invalid('params', 'Cannot exceed 10,000 characters encoded.');
    for (const contact of targets.values()) contact.flow = { uuid: flow.uuid, name: flow.name };
    const at = iso(now());
    const start: RapidProFlowStart = {
      uuid: randomUUID(),
      flow: { ...flow },
      status: 'pending',
      groups: startGroups,
      contacts: [...targets.values()].map(contactRef),
      restart_participants: body.restart_participants !== false,
      exclude_active: body.exclude_active === true,
      params,
      extra: params,
      created_on: at,
      modified_on: at,
    };
    starts.push(start);
    return structuredClone(start);
  }

  /**
   * Count an authenticated request in its scope's bucket (a sliding window, as DRF's throttle);
   * the wait in seconds until the bucket has room when refused. Refused requests do not count.
   */
  function throttle(scope: RateScope): number | null {
    const counts = (usage.byScope[scope] ??= { requests: 0, throttled: 0 });
    usage.requests++;
    counts.requests++;
    const budget = sim.scopeLimits[scope] ?? sim.rateLimit;
    if (!budget) return null;
    const windowMs = budget.per === 'hour' ? 3_600_000 : 1_000;
    const t = now();
    const history = admitted.get(scope) ?? [];
    admitted.set(scope, history);
    while (history.length > 0 && history[0]! <= t - windowMs) history.shift();
    if (history.length < budget.requests) {
      history.push(t);
      return null;
    }
    usage.throttled++;
    counts.throttled++;
    return Math.max(1, Math.ceil((history[0]! + windowMs - t) / 1000));
  }

  function route(endpoint: RapidProEndpoint, method: string, url: URL, body: unknown): [number, unknown] {
    const q = url.searchParams;
    const key = `${method} ${endpoint}`;
    const needsBody = method === 'POST';
    if (needsBody && !isObject(body)) throw new ApiError(400, { detail: 'JSON parse error - expected an object' });
    const post = body as Record<string, unknown>;
    switch (key) {
      case 'GET messages':
        return [200, listMessages(url)];
      case 'POST messages':
        // Weni Flows predates POST messages.json (RapidPro 2023); it sends with broadcasts only.
        if (sim.variant === 'weni') break;
        return [201, apiMessage(sendMessage(post))];
      case 'POST broadcasts':
        return [201, broadcast(post)];
      case 'GET contacts': {
        const urn = q.get('urn');
        const group = q.get('group');
        const members = group === null ? null : (findGroup(group)?.members ?? new Set<string>());
        const picked = [...contacts.values()].filter(
          (c) => (!q.has('uuid') || c.uuid === q.get('uuid')) && (urn === null || c.urns.includes(urn)) && (!members || members.has(c.uuid)),
        );
        return [200, paginate(url, picked.map((c) => ({ at: Date.parse(c.modified_on), id: contactSeq.get(c.uuid)!, json: structuredClone(c) })))];
      }
      case 'POST contact_actions':
        contactAction(post);
        return [204, null];
      case 'GET groups': {
        const picked = [...groups.values()].filter(({ group: g }) => (!q.has('uuid') || g.uuid === q.get('uuid')) && (!q.has('name') || g.name === q.get('name')));
        return [200, paginate(url, picked.map(({ group }, i) => ({ at: 0, id: i, json: { ...group } })))];
      }
      case 'POST groups': {
        if (typeof post.name !== 'string' || post.name.trim() === '') throw invalid('name', 'This field is required.');
        if (findGroup(post.name)) throw invalid('name', 'Must be unique.');
        return [201, sim.addGroup(post.name)];
      }
      case 'GET flows': {
        const picked = [...flows.values()].filter((f) => !q.has('uuid') || f.uuid === q.get('uuid'));
        return [200, paginate(url, picked.map((f, i) => ({ at: 0, id: i, json: { ...f, type: 'message', archived: false } })))];
      }
      case 'GET flow_starts': {
        const picked = starts.filter((s) => !q.has('uuid') || s.uuid === q.get('uuid'));
        return [200, paginate(url, picked.map((s, i) => ({ at: Date.parse(s.modified_on), id: i, json: structuredClone(s) })))];
      }
      case 'POST flow_starts':
        return [201, startFlow(post)];
    }
    throw new ApiError(405, { detail: `Method "${method}" not allowed.` });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const method = req.method ?? 'GET';
    const raw = await readBody(req);
    let body: unknown = null;
    if (raw !== '') {
      try {
        body = JSON.parse(raw);
      } catch {
        body = undefined;
      }
    }
    sim.requests.push({ method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: flattenHeaders(req.headers), body, at: new Date(now()) });
    // Without `.json` RapidPro serves the endpoint's HTML documentation, which is no API.
    const match = /^\/api\/v2\/([a-z_]+)\.json$/.exec(url.pathname);
    const endpoint = match && ENDPOINTS.has(match[1] as RapidProEndpoint) ? (match[1] as RapidProEndpoint) : null;
    if (await sim.faults.apply(req, res)) return;
    if (endpoint && (await sim.faultsFor(endpoint).apply(req, res))) return;
    const auth = req.headers.authorization;
    if (auth === undefined) return sendJson(res, 403, { detail: 'Authentication credentials were not provided.' });
    if (auth !== `Token ${sim.token}`) return sendJson(res, 403, { detail: 'Invalid token' });
    if (!endpoint) return sendJson(res, 404, { detail: 'Not found.' });
    const wait = throttle(scopeOf(endpoint, sim.variant));
    if (wait !== null) {
      res.setHeader('retry-after', String(wait));
      return sendJson(res, 429, { detail: `Request was throttled. Expected available in ${wait} seconds.` });
    }
    try {
      const [status, answer] = route(endpoint, method, url, body);
      if (status === 204) return void res.writeHead(204).end();
      sendJson(res, status, answer);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      sendJson(res, error.status, error.body);
    }
  }

  const sim: RapidProSimulator = {
    url: '',
    token: options.token ?? randomUUID().replaceAll('-', '').padEnd(40, '0'),
    variant: options.variant ?? 'rapidpro',
    faults: new FaultInjector(),
    faultsFor(endpoint) {
      let faults = endpointFaults.get(endpoint);
      if (!faults) endpointFaults.set(endpoint, (faults = new FaultInjector()));
      return faults;
    },
    rateLimit: options.rateLimit === undefined ? { ...DEFAULT_BUDGET } : options.rateLimit,
    scopeLimits: options.scopeLimits ?? (options.variant === 'weni' ? { 'v2.broadcasts': { requests: 36_000, per: 'hour' } } : {}),
    usage,
    requests: [],
    pageSize: options.pageSize ?? DEFAULT_PAGE_SIZE,
    failingContacts: new Set(),
    failureRate: 0,
    get autoProgressMs() {
      return autoProgressMs;
    },
    set autoProgressMs(ms: number | null) {
      autoProgressMs = ms;
      if (timer) clearInterval(timer);
      timer = ms === null ? null : setInterval(() => sim.advanceAll(), ms);
      timer?.unref();
    },
    interrupted: [],
    advance(ref, to) {
      const entry = entryOf(ref);
      if (!entry) throw new Error(`RapidPro simulator: no message ${ref}`);
      move(entry, to);
      return structuredClone(entry.message);
    },
    advanceAll() {
      let moved = 0;
      for (const entry of store.values()) if (entry.path && move(entry)) moved++;
      for (const start of starts) {
        const next = FLOW_START_PATH[FLOW_START_PATH.indexOf(start.status) + 1];
        if (next) {
          start.status = next;
          start.modified_on = iso(now());
        }
      }
      return moved;
    },
    messages: () => [...store.values()].sort((a, b) => b.at - a.at || b.message.id - a.message.id).map((e) => structuredClone(e.message)),
    sent: () => [...store.values()].filter((e) => e.path).map((e) => structuredClone(e.message)),
    message: (ref) => {
      const entry = entryOf(ref);
      return entry && structuredClone(entry.message);
    },
    addContact({ urn, name, uuid }) {
      const at = iso(now());
      const contact: RapidProContact = {
        uuid: uuid ?? randomUUID(),
        name: name ?? null,
        status: 'active',
        language: null,
        urns: [urn],
        groups: [],
        fields: {},
        flow: null,
        created_on: at,
        modified_on: at,
        last_seen_on: null,
      };
      contacts.set(contact.uuid, contact);
      contactSeq.set(contact.uuid, nextId++);
      return contact;
    },
    contact: (ref) => findContact(ref),
    addGroup(name) {
      const group: RapidProGroup = { uuid: randomUUID(), name, query: null, status: 'ready', system: false, count: 0 };
      groups.set(group.uuid, { group, members: new Set() });
      return { ...group };
    },
    members: (uuid) => [...(groups.get(uuid)?.members ?? [])],
    addFlow(name) {
      const flow = { uuid: randomUUID(), name };
      flows.set(flow.uuid, flow);
      return { ...flow };
    },
    flowStarts: () => structuredClone(starts),
    clientSays(ref, text, { flow } = {}) {
      const contact = findContact(ref);
      if (!contact) throw new Error(`RapidPro simulator: no contact ${ref}`);
      const known = flow === undefined ? undefined : flows.get(flow);
      if (flow !== undefined && !known) throw new Error(`RapidPro simulator: no flow ${flow}`);
      return structuredClone(addMessage(contact, { direction: 'in', text, flow: known ? { ...known } : null }).message);
    },
    bot: (botOptions) => createBot(sim, botOptions),
    async close() {
      sim.autoProgressMs = null;
      for (const faults of [sim.faults, ...endpointFaults.values()]) faults.releaseHanging();
      const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
      server.closeAllConnections();
      await closed;
    },
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (res.headersSent) res.destroy();
      else sendJson(res, 500, { detail: 'Server Error (500)' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  sim.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return sim;
}

/** The bot: every call is one flow webhook (15 s, retried only under Weni's rule), with a token fetched again once on 401. */
function createBot(sim: RapidProSimulator, options: ChatbotDriverOptions): ChatbotDriver {
  const base = options.apiBaseUrl.endsWith('/') ? options.apiBaseUrl : `${options.apiBaseUrl}/`;
  const timeoutMs = options.timeoutMs ?? WEBHOOK_TIMEOUT_MS;
  const random = options.random ?? Math.random;
  const retries = options.retries ?? (sim.variant === 'weni' ? 'weni' : 'none');
  const backoffs = options.retryBackoffMs ?? [5_000, 10_000];
  const userAgent = sim.variant === 'weni' ? 'RapidProMailroom/7.1' : 'Mailroom/10.3';
  const flow = sim.addFlow('Talk to a counsellor');
  let apiToken: string | null = null;

  /** One webhook call, retried only under Weni's rule (`retries: 'weni'`). */
  async function call(method: 'POST' | 'GET', path: string, body: unknown, droppable: boolean, idempotencyKey?: string): Promise<BotCall> {
    if (droppable && (bot.dropNext > 0 || random() < bot.dropRate)) {
      if (bot.dropNext > 0) bot.dropNext--;
      const dropped: BotCall = { method, path, body, outcome: 'dropped', status: null, response: null, attempt: 0, at: new Date() };
      bot.calls.push(dropped);
      return dropped;
    }
    for (let attempt = 0; ; attempt++) {
      const { record, retryAfterS } = await attemptCall(method, path, body, attempt, idempotencyKey);
      const backoff = retries === 'weni' ? backoffs[attempt] : undefined;
      if (backoff === undefined) return record;
      const idempotent = idempotencyKey !== undefined && (record.outcome !== 'answered' || (record.status ?? 0) > 501);
      const shortRetryAfter = retryAfterS !== null && retryAfterS * 1000 <= backoff;
      if (!idempotent && !shortRetryAfter) return record;
      await sleep(shortRetryAfter ? retryAfterS * 1000 : backoff);
    }
  }

  async function attemptCall(method: 'POST' | 'GET', path: string, body: unknown, attempt: number, idempotencyKey?: string) {
    const record: BotCall = { method, path, body, outcome: 'error', status: null, response: null, attempt, at: new Date() };
    bot.calls.push(record);
    let retryAfterS: number | null = null;
    const headers: Record<string, string> = { 'user-agent': userAgent, 'x-mailroom-mode': 'normal' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (apiToken !== null && path !== 'token/') headers.authorization = `Token ${apiToken}`;
    if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
    try {
      const response = await fetch(new URL(path, base), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await response.text();
      record.outcome = 'answered';
      record.status = response.status;
      const retryAfter = Number(response.headers.get('retry-after') ?? Number.NaN);
      if (Number.isFinite(retryAfter)) retryAfterS = retryAfter;
      try {
        record.response = JSON.parse(text);
      } catch {
        record.response = text;
      }
    } catch (error) {
      record.outcome = error instanceof DOMException && error.name === 'TimeoutError' ? 'timeout' : 'error';
    }
    return { record, retryAfterS };
  }

  /** A token-authenticated call; a 401 (expired token) fetches a new one and repeats the call once. */
  async function authed(method: 'POST' | 'GET', path: string, body: unknown, droppable: boolean, idempotencyKey?: string): Promise<BotCall> {
    if (apiToken === null) await bot.token();
    const first = await call(method, path, body, droppable, idempotencyKey);
    if (first.status !== 401) return first;
    await bot.token();
    return call(method, path, body, false, idempotencyKey);
  }

  const bot: ChatbotDriver = {
    calls: [],
    get apiToken() {
      return apiToken;
    },
    dropRate: options.dropRate ?? 0,
    dropNext: 0,
    async token() {
      const record = await call('POST', 'token/', { username: options.username, password: options.password }, false);
      const token = isObject(record.response) ? record.response.token : undefined;
      if (record.status !== 200 || typeof token !== 'string') throw new Error(`chatbot token/ answered ${record.status ?? record.outcome}`);
      apiToken = token;
      return token;
    },
    async say(input) {
      const message = sim.clientSays(input.contact, input.text, { flow: flow.uuid });
      const body: Record<string, unknown> = {
        chat_sender: input.sender ?? input.contact,
        chat_receiver: input.receiver ?? 'helpline',
        chat_message: input.text,
        chat_session: input.session,
        chat_source: options.source ?? 'WENI',
        message_id: input.messageId ?? message.uuid,
        contact: input.contact,
      };
      if (input.pseudonym !== undefined) body.pseudonym = input.pseudonym;
      const key = options.idempotencyKey ? String(body.message_id) : undefined;
      return { message, call: await authed('POST', 'chat/', body, true, key) };
    },
    close: (session) => authed('POST', `chat/${encodeURIComponent(session)}/close/`, { chat_source: options.source ?? 'WENI' }, true),
    ack: (session, messageId, status) => authed('POST', `chat/${encodeURIComponent(session)}/ack/`, { message_id: messageId, status }, true),
    listChats: () => authed('GET', 'chat/', undefined, false),
  };
  return bot;
}
