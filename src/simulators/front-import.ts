/**
 * Reads the body of a Front Channel API import (`inbound_messages` / `outbound_messages`),
 * sent as JSON or as multipart/form-data with bracket field names, into one shape, and
 * validates it the way Front does: a bad request is a `BadImport` (answered with 400).
 */
import type { IncomingHttpHeaders } from 'node:http';

export type ImportKind = 'inbound' | 'outbound';

export interface ImportFile {
  filename: string;
  contentType: string;
  bytes: Buffer;
}

export interface ParsedImport {
  senderHandle: string | null;
  toHandles: string[];
  body: string;
  deliveredAt: number | null;
  externalId: string;
  externalConversationId: string;
  attachments: ImportFile[];
  /** Media type of the request body, without parameters. */
  contentType: string;
}

export class BadImport extends Error {}

/** Front's documented limit for `external_id` and `external_conversation_id`. */
const MAX_EXTERNAL_ID = 200;

export async function parseImport(kind: ImportKind, headers: IncomingHttpHeaders, raw: Buffer): Promise<ParsedImport> {
  const header = headers['content-type'] ?? '';
  const contentType = header.split(';')[0]!.trim().toLowerCase();
  let fields: unknown;
  let attachments: ImportFile[] = [];
  if (contentType === 'application/json') {
    try {
      fields = JSON.parse(raw.toString('utf8')) as unknown;
    } catch {
      throw new BadImport('Body is not valid JSON');
    }
  } else if (contentType === 'multipart/form-data') {
    ({ fields, attachments } = await readMultipart(header, raw));
  } else {
    throw new BadImport(`Unsupported content type "${contentType || '(none)'}"; send application/json or multipart/form-data`);
  }

  const senderHandle = kind === 'inbound' ? requiredString(fields, ['sender', 'handle'], 'sender.handle') : null;
  const toHandles = kind === 'outbound' ? recipientHandles(fields) : [];
  const body = requiredString(fields, ['body'], 'body');
  const externalId = requiredString(fields, ['metadata', 'external_id'], 'metadata.external_id');
  const externalConversationId = requiredString(fields, ['metadata', 'external_conversation_id'], 'metadata.external_conversation_id');
  if (externalId.length > MAX_EXTERNAL_ID) throw new BadImport(`metadata.external_id is longer than ${MAX_EXTERNAL_ID} characters`);
  if (externalConversationId.length > MAX_EXTERNAL_ID) {
    throw new BadImport(`metadata.external_conversation_id is longer than ${MAX_EXTERNAL_ID} characters`);
  }
  return { senderHandle, toHandles, body, deliveredAt: deliveredAt(fields), externalId, externalConversationId, attachments, contentType };
}

/** Follows a path through objects and arrays (form fields build objects keyed "0", "1", ...). */
function pick(value: unknown, path: string[]): unknown {
  let node = value;
  for (const key of path) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function requiredString(fields: unknown, path: string[], name: string): string {
  const value = pick(fields, path);
  if (typeof value !== 'string' || value === '') throw new BadImport(`${name} is required (non-empty string)`);
  return value;
}

function recipientHandles(fields: unknown): string[] {
  requiredString(fields, ['to', '0', 'handle'], 'to[0].handle');
  const to = pick(fields, ['to']) as Record<string, unknown>;
  const entries = Array.isArray(to) ? to : Object.keys(to).sort((a, b) => Number(a) - Number(b)).map((key) => to[key]);
  return entries.map((entry, index) => {
    const handle = pick(entry, ['handle']);
    if (typeof handle !== 'string' || handle === '') throw new BadImport(`to[${index}].handle is required (non-empty string)`);
    return handle;
  });
}

function deliveredAt(fields: unknown): number | null {
  const value = pick(fields, ['delivered_at']);
  if (value === undefined || value === null || value === '') return null;
  const seconds = typeof value === 'string' ? Number(value) : value;
  if (typeof seconds !== 'number' || !Number.isInteger(seconds)) throw new BadImport('delivered_at must be an integer (epoch seconds)');
  return seconds;
}

async function readMultipart(header: string, raw: Buffer): Promise<{ fields: Record<string, unknown>; attachments: ImportFile[] }> {
  let form: FormData;
  try {
    form = await new Request('http://front-simulator.invalid/', { method: 'POST', headers: { 'content-type': header }, body: raw }).formData();
  } catch {
    throw new BadImport('Body is not valid multipart/form-data');
  }
  const fields: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const attachments: ImportFile[] = [];
  for (const [name, value] of form.entries()) {
    if (typeof value !== 'string') {
      // Front takes files only as attachments: `attachments[0]`, ... or a repeated `attachments`.
      if (!/^attachments(\[\d*\])?$/.test(name)) throw new BadImport(`Unexpected file field "${name}"`);
      attachments.push({
        filename: value.name,
        contentType: value.type || 'application/octet-stream',
        bytes: Buffer.from(await value.arrayBuffer()),
      });
      continue;
    }
    setBracketField(fields, name, value);
  }
  return { fields, attachments };
}

/** `to[0][handle]=x` → `{ to: { 0: { handle: 'x' } } }`; `[]` appends. */
function setBracketField(fields: Record<string, unknown>, name: string, value: string): void {
  const match = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(name);
  if (!match) throw new BadImport(`Malformed field name "${name}"`);
  const path = [match[1]!, ...[...match[2]!.matchAll(/\[([^[\]]*)\]/g)].map((m) => m[1]!)];
  let node = fields;
  for (const [index, segment] of path.entries()) {
    const key = segment === '' ? String(Object.keys(node).length) : segment;
    if (index === path.length - 1) {
      node[key] = value;
      return;
    }
    const child = node[key];
    if (typeof child !== 'object' || child === null) node[key] = Object.create(null) as Record<string, unknown>;
    node = node[key] as Record<string, unknown>;
  }
}
