/**
 * RapidPro API v2 client (upstream RapidPro, TextIt, Weni Flows): send a message to a
 * contact, list messages (cursor pages), contact actions and flow starts. Sends are not
 * idempotent upstream, so callers look a lost send up (listMessages by contact and time)
 * before sending again. Weni Flows predates `POST messages.json`: a 404/405 there falls
 * back to a one-contact broadcast, whose message is then found by its broadcast id.
 * Errors are ProviderHttpErrors: 429 with Retry-After, 5xx retryable; other 4xx not. A send
 * refused with 429 sent nothing (a broadcast that went but whose message could not be looked
 * up fails with no status: its outcome is unknown).
 */
import { ProviderHttpError, parseRetryAfter, providerRequest, type ProviderResponse } from '../http.ts';

const PROVIDER = 'rapidpro';

export interface RapidProMessage {
  id: number;
  /** Absent on Weni Flows (RapidPro v7), whose messages are known by `id` only. */
  uuid?: string;
  broadcast?: number | null;
  contact: { uuid: string; name: string | null };
  direction: 'in' | 'out';
  status: string;
  text: string;
  created_on: string;
  modified_on?: string;
}

/** How a message is named for good: its uuid, or its id where the server has no uuids. */
export const messageKey = (message: Pick<RapidProMessage, 'id' | 'uuid'>): string => message.uuid ?? String(message.id);

export interface MessagePage {
  next: string | null;
  results: RapidProMessage[];
}

/** Told of every answer (status null: none came), to count requests against the workspace's budget. */
export type AnswerHook = (answer: { status: number | null; retryAfterMs: number | null }) => Promise<void>;

export class RapidProClient {
  readonly #baseUrl: string;
  readonly #token: string;
  readonly #onAnswer: AnswerHook | null;

  constructor(baseUrl: string, token: string, onAnswer: AnswerHook | null = null) {
    this.#baseUrl = baseUrl.replace(/\/+$/, '');
    this.#token = token;
    this.#onAnswer = onAnswer;
  }

  async #call(pathOrUrl: string, options: { method?: 'GET' | 'POST'; json?: unknown } = {}): Promise<ProviderResponse> {
    const method = options.method ?? 'GET';
    const headers: Record<string, string> = { authorization: `Token ${this.#token}`, accept: 'application/json' };
    if (options.json !== undefined) headers['content-type'] = 'application/json';
    const url = pathOrUrl.startsWith('http') ? pathOrUrl : `${this.#baseUrl}${pathOrUrl}`;
    let response: ProviderResponse;
    try {
      response = await providerRequest(PROVIDER, url, { method, headers, body: options.json === undefined ? undefined : JSON.stringify(options.json) });
    } catch (error) {
      await this.#onAnswer?.({ status: null, retryAfterMs: null });
      throw error;
    }
    await this.#onAnswer?.({ status: response.status, retryAfterMs: parseRetryAfter(response.headers['retry-after']) });
    if (response.status >= 200 && response.status < 300) return response;
    throw errorFrom(response, `${method} ${new URL(url).pathname}`);
  }

  /** One message to one contact; the message as RapidPro stored it (its uuid tracks its status). */
  async sendMessage(contact: string, text: string): Promise<RapidProMessage> {
    try {
      return (await this.#call('/api/v2/messages.json', { method: 'POST', json: { contact, text } })).json<RapidProMessage>();
    } catch (error) {
      // Not sent: this server has no POST messages.json (Weni Flows, RapidPro before 2023).
      if (!(error instanceof ProviderHttpError) || (error.httpStatus !== 404 && error.httpStatus !== 405)) throw error;
    }
    const broadcast = (await this.#call('/api/v2/broadcasts.json', { method: 'POST', json: { contacts: [contact], text } })).json<{ id: number }>();
    // The broadcast went: failing to find its message now (a 429 included) is an unknown outcome, never a refusal.
    const notFound = (why: string) => new ProviderHttpError({ provider: PROVIDER, message: `RapidPro broadcast ${broadcast.id} ${why}`, httpStatus: null, retryable: true });
    let page: MessagePage;
    try {
      // RapidPro filters by one of contact or broadcast, not both.
      page = await this.listMessages({ broadcast: String(broadcast.id) });
    } catch (error) {
      throw notFound(`went, but looking its message up failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    const message = page.results.find((m) => m.contact.uuid === contact) ?? page.results[0];
    if (!message) throw notFound('has no message yet');
    return message;
  }

  /** A page of messages, newest first: the first for `query`, or the `next` URL of the previous page. */
  async listMessages(query: Record<string, string>, next: string | null = null): Promise<MessagePage> {
    return (await this.#call(next ?? `/api/v2/messages.json?${new URLSearchParams(query).toString()}`)).json<MessagePage>();
  }

  /**
   * A contact's messages since `after`, in one direction, over up to `maxPages` pages;
   * `more` may stop it between pages (a budget). Null when RapidPro is throttling or down
   * (the caller tries again on its next pass); other errors are thrown.
   */
  async contactMessages(contact: string, after: Date, direction: 'in' | 'out', options: { maxPages: number; more?: () => Promise<boolean> }): Promise<RapidProMessage[] | null> {
    const found: RapidProMessage[] = [];
    try {
      let page = await this.listMessages({ contact, after: after.toISOString() });
      for (let n = 1; ; n++) {
        found.push(...page.results.filter((m) => m.direction === direction));
        if (!page.next || n >= options.maxPages || (options.more && !(await options.more()))) return found;
        page = await this.listMessages({}, page.next);
      }
    } catch (error) {
      if (error instanceof ProviderHttpError && error.retryable) return null;
      throw error;
    }
  }

  async contactAction(action: 'add' | 'remove' | 'interrupt', contact: string, group?: string): Promise<void> {
    await this.#call('/api/v2/contact_actions.json', { method: 'POST', json: { contacts: [contact], action, ...(group ? { group } : {}) } });
  }

  async startFlow(flow: string, contact: string, params: Record<string, unknown> = {}): Promise<void> {
    await this.#call('/api/v2/flow_starts.json', { method: 'POST', json: { flow, contacts: [contact], params } });
  }
}

/** A non-2xx answer: 429 and 5xx may be retried (Retry-After honoured), 401/403 are credentials, other 4xx final. */
function errorFrom(response: ProviderResponse, what: string): ProviderHttpError {
  const status = response.status;
  return new ProviderHttpError({
    provider: PROVIDER,
    // RapidPro's refusals name fields and values (a contact's URN): the status only in logs.
    message: `RapidPro ${what} answered ${status}: ${response.text().slice(0, 300)}`,
    logMessage: `RapidPro ${what} answered ${status}`,
    httpStatus: status,
    responseBody: response.text().slice(0, 2000),
    providerCode: status >= 400 && status < 500 && status !== 429 ? `HTTP_${status}` : null,
    retryAfterMs: parseRetryAfter(response.headers['retry-after']),
    retryable: status === 429 || status >= 500,
  });
}
