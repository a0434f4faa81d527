/**
 * In-memory message store of the SignalWire simulator: Message and Media JSON shaped as the
 * Compatibility API returns them, plus what the API does not show (media bytes, the status
 * callback URL, whether the message was created through POST .../Messages).
 */
import { randomUUID } from 'node:crypto';
import { API_VERSION, countSegments, messagesPath, rfc2822 } from './signalwire-wire.ts';

export interface SimMedia {
  sid: string;
  content_type: string;
  bytes: Buffer;
}

export interface SimMessage {
  account_sid: string;
  api_version: string;
  body: string | null;
  num_segments: string;
  num_media: string;
  date_created: string;
  date_sent: string | null;
  date_updated: string;
  direction: string;
  error_code: string | number | null;
  error_message: string | null;
  from: string;
  to: string;
  messaging_service_sid: string | null;
  price: string | null;
  price_unit: string;
  sid: string;
  status: string;
  uri: string;
  subresource_uris: { media: string };
  [k: string]: unknown;
}

export interface StoredMessage {
  message: SimMessage;
  media: SimMedia[];
  statusCallback: string | null;
  viaApi: boolean;
  seq: number;
  /** date_created in ms, parsed once: listing sorts by it. */
  createdMs: number;
}

export interface MediaJson {
  account_sid: string;
  content_type: string;
  date_created: string;
  date_updated: string;
  parent_sid: string;
  sid: string;
  uri: string;
}

export interface NewMessage {
  accountSid: string;
  fields: Partial<SimMessage> & { from: string; to: string };
  media?: SimMedia[];
  created?: Date;
  statusCallback?: string | null;
  viaApi?: boolean;
}

/**
 * Statuses a message only reaches once it has left (or, inbound, arrived): they carry a
 * date_sent. `failed` too: asynchronous failures (30xxx) happen after the carrier hand-off;
 * failures before it are synchronous API errors and never become messages.
 */
export const SENT_STATES: ReadonlySet<string> = new Set(['sent', 'delivered', 'undelivered', 'failed', 'received', 'read']);

export class MessageStore {
  readonly #entries = new Map<string, StoredMessage>();
  #seq = 0;
  /** newestFirst() until the next add: paging through a large store must not re-sort it per page. */
  #sorted: StoredMessage[] | null = null;

  /** Changes whenever a message is added: list results computed for one version stay valid until then. */
  get version(): number {
    return this.#seq;
  }

  add({ accountSid, fields, media = [], created = new Date(), statusCallback = null, viaApi = false }: NewMessage): StoredMessage {
    // Drop explicit undefineds so they do not erase the defaults below.
    const given = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<SimMessage>;
    const sid = given.sid ?? randomUUID();
    const path = `${messagesPath(accountSid)}/${sid}`;
    const dateCreated = rfc2822(created);
    const status = given.status ?? 'received';
    const body = given.body ?? null;
    const message: SimMessage = {
      account_sid: accountSid,
      api_version: API_VERSION,
      body,
      num_segments: String(countSegments(body)),
      num_media: String(media.length),
      date_created: dateCreated,
      date_sent: SENT_STATES.has(status) ? dateCreated : null,
      date_updated: dateCreated,
      direction: 'inbound',
      error_code: null,
      error_message: null,
      from: fields.from,
      to: fields.to,
      messaging_service_sid: null,
      price: null,
      price_unit: 'USD',
      sid,
      status,
      uri: `${path}.json`,
      subresource_uris: { media: `${path}/Media.json` },
      ...given,
    };
    const entry: StoredMessage = { message, media, statusCallback, viaApi, seq: this.#seq++, createdMs: Date.parse(message.date_created) };
    this.#entries.set(sid, entry);
    this.#sorted = null;
    return entry;
  }

  get(sid: string): StoredMessage | undefined {
    return this.#entries.get(sid);
  }

  /** Newest first by date_created; ties go to the later-inserted message. */
  newestFirst(): readonly StoredMessage[] {
    this.#sorted ??= [...this.#entries.values()].sort((a, b) => b.createdMs - a.createdMs || b.seq - a.seq);
    return this.#sorted;
  }

  /** Messages created through POST .../Messages, in creation order. */
  sent(): StoredMessage[] {
    return [...this.#entries.values()].filter((entry) => entry.viaApi);
  }
}

export function mediaJson(entry: StoredMessage, media: SimMedia): MediaJson {
  const { message } = entry;
  return {
    account_sid: message.account_sid,
    content_type: media.content_type,
    date_created: message.date_created,
    date_updated: message.date_created,
    parent_sid: message.sid,
    sid: media.sid,
    uri: `${messagesPath(message.account_sid)}/${message.sid}/Media/${media.sid}.json`,
  };
}
