/**
 * HTTP side of the SignalWire simulator: the Compatibility API message routes (send, list,
 * fetch, media) under /api/laml/2010-04-01/Accounts/:projectId/, with or without `.json`,
 * behind Basic auth and the shared fault injector (whose rate limit, when set, counts sends
 * per From number or per project). Every request is recorded first.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FaultInjector } from './faults.ts';
import { mediaJson, type MessageStore, type SimMessage, type StoredMessage } from './signalwire-store.ts';
import {
  contentTypeOf,
  errorBody,
  flattenHeaders,
  isE164,
  LAML_PREFIX,
  messagesPath,
  readBody,
  sendJson,
  utcDay,
} from './signalwire-wire.ts';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  /** Decoded form pairs in order, for form-encoded POSTs; empty otherwise. */
  form: [string, string][];
  at: Date;
}

/** What the routes read from the simulator; tests may change these while it runs. */
export interface ApiState {
  projectId: string;
  apiToken: string;
  faults: FaultInjector;
  requests: RecordedRequest[];
  unregisteredFrom: Set<string>;
  codesAsStrings: boolean;
}

const MAX_BODY_CHARS = 1600;
const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;
const PAGING_PARAMS = new Set(['Page', 'PageSize', 'PageToken']);
// The comparison operator is part of the parameter name (`DateSent<=`); values are UTC days.
const DATE_SENT_FILTERS = new Map<string, (day: string, value: string) => boolean>([
  ['DateSent', (day, value) => day === value],
  ['DateSent<', (day, value) => day < value],
  ['DateSent<=', (day, value) => day <= value],
  ['DateSent>', (day, value) => day > value],
  ['DateSent>=', (day, value) => day >= value],
]);

interface Route {
  projectId: string;
  parts: string[];
  json: boolean;
}

function parseRoute(pathname: string): Route | null {
  if (!pathname.startsWith(LAML_PREFIX)) return null;
  const parts = pathname.slice(LAML_PREFIX.length).split('/');
  const last = parts.length - 1;
  const json = parts[last]!.endsWith('.json');
  if (json) parts[last] = parts[last]!.slice(0, -'.json'.length);
  const [projectId, ...rest] = parts;
  return projectId ? { projectId, parts: rest, json } : null;
}

function intParam(value: string | null, fallback: number, min: number, max: number): number {
  if (value === null || !/^\d+$/.test(value)) return fallback;
  return Math.min(max, Math.max(min, Number(value)));
}

export function createApiHandler(
  state: ApiState,
  store: MessageStore,
  onCreated: (entry: StoredMessage) => void,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const fail = (res: ServerResponse, status: number, code: number, message: string) =>
    sendJson(res, status, errorBody(code, message, status, state.codesAsStrings));
  const notFound = (res: ServerResponse) => fail(res, 404, 20404, 'The requested resource was not found');

  function authorized(header: string | undefined, pathProjectId: string): boolean {
    const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
    if (!match) return false;
    const credentials = Buffer.from(match[1]!, 'base64').toString('utf8');
    return credentials === `${state.projectId}:${state.apiToken}` && pathProjectId === state.projectId;
  }

  function create(res: ServerResponse, form: [string, string][], projectId: string): void {
    const param = (name: string) => form.find(([key]) => key === name)?.[1];
    const to = param('To');
    const from = param('From');
    const body = param('Body') ?? null;
    const mediaUrls = form.filter(([key]) => key === 'MediaUrl').map(([, value]) => value);
    if (!isE164(to)) return fail(res, 400, 21211, "Invalid 'To' Phone Number");
    if (!from) return fail(res, 400, 21603, "A 'From' phone number is required.");
    if (!body && mediaUrls.length === 0) return fail(res, 400, 21602, 'Message body is required.');
    if (body && body.length > MAX_BODY_CHARS) {
      return fail(res, 400, 21617, 'The concatenated message body exceeds the 1600 character limit.');
    }
    if (mediaUrls.some((url) => !URL.canParse(url))) return fail(res, 400, 21620, 'Invalid media URL(s).');
    if (state.unregisteredFrom.has(from)) return fail(res, 422, 21717, 'From must belong to an active campaign.');
    const entry = store.add({
      accountSid: projectId,
      fields: { from, to, body, direction: 'outbound-api', status: 'queued' },
      media: mediaUrls.map((url) => ({ sid: randomUUID(), content_type: contentTypeOf(url), bytes: Buffer.alloc(0) })),
      statusCallback: param('StatusCallback') ?? null,
      viaApi: true,
    });
    sendJson(res, 201, entry.message);
    onCreated(entry);
  }

  function list(res: ServerResponse, query: URLSearchParams, projectId: string): void {
    const pageSize = intParam(query.get('PageSize'), DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE);
    const page = intParam(query.get('Page'), 0, 0, Number.MAX_SAFE_INTEGER);
    const dateTests: [(day: string, value: string) => boolean, string][] = [];
    for (const [name, value] of query) {
      const test = DATE_SENT_FILTERS.get(name);
      if (!test) continue;
      if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return fail(res, 400, 20001, `Invalid value for ${name}: ${value}`);
      dateTests.push([test, value]);
    }
    const to = query.get('To');
    const from = query.get('From');
    const sentOn = (m: SimMessage) =>
      dateTests.length === 0 || (m.date_sent !== null && dateTests.every(([test, value]) => test(utcDay(m.date_sent!), value)));
    const matching = store
      .newestFirst()
      .map((entry) => entry.message)
      .filter((m) => (to === null || m.to === to) && (from === null || m.from === from) && sentOn(m));
    // Page links keep the caller's filters; clients follow next_page_uri verbatim.
    const filters = [...query].filter(([name]) => !PAGING_PARAMS.has(name));
    const pageUri = (n: number) =>
      `${messagesPath(projectId)}.json?${new URLSearchParams([...filters, ['PageSize', String(pageSize)], ['Page', String(n)]])}`;
    const start = page * pageSize;
    sendJson(res, 200, {
      uri: pageUri(page),
      first_page_uri: pageUri(0),
      next_page_uri: start + pageSize < matching.length ? pageUri(page + 1) : null,
      previous_page_uri: page > 0 ? pageUri(page - 1) : null,
      page,
      page_size: pageSize,
      messages: matching.slice(start, start + pageSize),
    });
  }

  function media(res: ServerResponse, entry: StoredMessage, mediaSid: string | undefined, json: boolean): void {
    if (mediaSid === undefined) {
      const uri = `${messagesPath(entry.message.account_sid)}/${entry.message.sid}/Media.json`;
      const pageUri = `${uri}?PageSize=${DEFAULT_PAGE_SIZE}&Page=0`;
      return sendJson(res, 200, {
        uri: pageUri,
        first_page_uri: pageUri,
        next_page_uri: null,
        previous_page_uri: null,
        page: 0,
        page_size: DEFAULT_PAGE_SIZE,
        media_list: entry.media.map((item) => mediaJson(entry, item)),
      });
    }
    const item = entry.media.find((candidate) => candidate.sid === mediaSid);
    if (!item) return notFound(res);
    if (json) return sendJson(res, 200, mediaJson(entry, item));
    res.writeHead(200, { 'content-type': item.content_type, 'content-length': item.bytes.length });
    res.end(item.bytes);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const method = req.method ?? 'GET';
    const raw = await readBody(req);
    // A JSON (or any non-form) body carries no params, as on SignalWire: the send then fails validation.
    const isForm = (req.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded');
    const form: [string, string][] = method === 'POST' && isForm ? [...new URLSearchParams(raw)] : [];
    state.requests.push({
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: flattenHeaders(req.headers),
      form,
      at: new Date(),
    });
    if (await state.faults.apply(req, res)) return;

    const route = parseRoute(url.pathname);
    if (!route) return notFound(res);
    if (!authorized(req.headers.authorization, route.projectId)) {
      return fail(res, 401, 20003, 'Authentication Error - invalid username');
    }
    const [collection, sid, sub, mediaSid, ...extra] = route.parts;
    if (collection !== 'Messages' || extra.length > 0) return notFound(res);
    if (!sid) {
      if (method === 'POST') {
        const sender = form.find(([key]) => key === 'From')?.[1] ?? '';
        const tooMany = errorBody(20429, 'Too Many Requests', 429, state.codesAsStrings);
        if (await state.faults.limit({ sender, account: route.projectId }, req, res, tooMany)) return;
        return create(res, form, route.projectId);
      }
      if (method === 'GET') return list(res, url.searchParams, route.projectId);
      return fail(res, 405, 20004, 'Method not allowed');
    }
    if (method !== 'GET') return fail(res, 405, 20004, 'Method not allowed');
    const entry = store.get(sid);
    if (!entry) return notFound(res);
    if (sub === undefined) return sendJson(res, 200, entry.message);
    if (sub !== 'Media') return notFound(res);
    media(res, entry, mediaSid, route.json);
  }

  return async (req, res) => {
    try {
      await handle(req, res);
    } catch {
      if (res.headersSent) res.destroy();
      else fail(res, 500, 20500, 'Internal Server Error');
    }
  };
}
