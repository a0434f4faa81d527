/**
 * SignalWire Compatibility (LaML/cXML) messaging simulator: a real HTTP server that tests, the
 * demo and benchmarks use in place of a SignalWire space. It serves the Messages and Media REST
 * routes, and a driver API delivers inbound messages and status changes as signed webhooks.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from 'undici';
import { FaultInjector } from './faults.ts';
import { createApiHandler, type RecordedRequest } from './signalwire-api.ts';
import { MessageStore, SENT_STATES, type SimMedia, type SimMessage, type StoredMessage } from './signalwire-store.ts';
import { API_VERSION, postSignedForm, rfc2822, WEBHOOK_CONNECT_TIMEOUT_MS } from './signalwire-wire.ts';

export type { RecordedRequest } from './signalwire-api.ts';
export type { SimMedia, SimMessage } from './signalwire-store.ts';
export { signSignalWireRequest } from './signalwire-wire.ts';

export interface SignalWireSimulatorOptions {
  projectId?: string;
  apiToken?: string;
  signingKey?: string;
}

export interface SignalWireSimulator {
  /** http://127.0.0.1:<port>; callers use it as the "space" URL. */
  url: string;
  projectId: string;
  apiToken: string;
  signingKey: string;
  faults: FaultInjector;
  /** Every API request received (not the webhooks the simulator sends). */
  requests: RecordedRequest[];
  /** Senders answered with 422 / 21717 (not in an active campaign). */
  unregisteredFrom: Set<string>;
  /** Move messages created through the API to sent, then delivered, each after autoDeliverDelayMs. */
  autoDeliver: boolean;
  autoDeliverDelayMs: number;
  /** Error `code` and message `error_code` as strings, as SignalWire sometimes sends them. */
  codesAsStrings: boolean;
  /** All stored messages, newest first (snapshots). */
  messages(): SimMessage[];
  /** Messages created through POST .../Messages, in creation order (snapshots). */
  sent(): SimMessage[];
  message(sid: string): SimMessage | undefined;
  /** Seed a message (default direction 'inbound', status 'received') without any webhook. */
  addMessage(fields: Partial<SimMessage> & { from: string; to: string; media?: SimMedia[]; dateCreated?: Date }): SimMessage;
  /** Create an inbound message and POST the signed inbound webhook to webhookUrl. */
  receiveInbound(
    input: { from: string; to: string; body: string | null; media?: SimMedia[] },
    webhookUrl: string,
  ): Promise<{ message: SimMessage; status: number; body: string }>;
  /**
   * Change a message's status and POST a signed status callback to its StatusCallback (or
   * `callbackUrl`). Resolves to the callback's HTTP status, or null when there is no URL.
   */
  setStatus(sid: string, status: string, options?: { errorCode?: string; errorMessage?: string; callbackUrl?: string }): Promise<number | null>;
  close(): Promise<void>;
}

const AUTO_DELIVERY_STEPS = ['sent', 'delivered'];

const snapshot = (entry: StoredMessage): SimMessage => structuredClone(entry.message);

export async function startSignalWireSimulator(options: SignalWireSimulatorOptions = {}): Promise<SignalWireSimulator> {
  const store = new MessageStore();
  // One dispatcher for outbound webhooks, with SignalWire's connect timeout; closed with the simulator.
  const agent = new Agent({ connect: { timeout: WEBHOOK_CONNECT_TIMEOUT_MS } });
  const shutdown = new AbortController();
  const inFlight = new Set<Promise<void>>();

  const entryOf = (sid: string): StoredMessage => {
    const entry = store.get(sid);
    if (!entry) throw new Error(`SignalWire simulator: no message ${sid}`);
    return entry;
  };

  /** Form params common to inbound webhooks and status callbacks. */
  const messageParams = (m: SimMessage): [string, string][] => [
    ['MessageSid', m.sid],
    ['SmsSid', m.sid],
    ['AccountSid', m.account_sid],
    ['From', m.from],
    ['To', m.to],
    ['Body', m.body ?? ''],
  ];

  async function deliverLater(sid: string): Promise<void> {
    for (const status of AUTO_DELIVERY_STEPS) {
      await sleep(sim.autoDeliverDelayMs, undefined, { signal: shutdown.signal });
      // Status callbacks are best-effort on SignalWire too: a failing receiver does not stop delivery.
      await sim.setStatus(sid, status).catch(() => null);
    }
  }

  const sim: SignalWireSimulator = {
    url: '',
    projectId: options.projectId ?? randomUUID(),
    apiToken: options.apiToken ?? `PT${randomBytes(24).toString('hex')}`,
    signingKey: options.signingKey ?? `PSK_${randomBytes(12).toString('hex')}`,
    faults: new FaultInjector(),
    requests: [],
    unregisteredFrom: new Set(),
    autoDeliver: false,
    autoDeliverDelayMs: 20,
    codesAsStrings: false,

    messages: () => store.newestFirst().map(snapshot),
    sent: () => store.sent().map(snapshot),
    message(sid) {
      const entry = store.get(sid);
      return entry && snapshot(entry);
    },

    addMessage({ media = [], dateCreated, ...fields }) {
      return snapshot(store.add({ accountSid: sim.projectId, fields, media, created: dateCreated }));
    },

    async receiveInbound({ from, to, body, media = [] }, webhookUrl) {
      const entry = store.add({ accountSid: sim.projectId, fields: { from, to, body }, media });
      const m = entry.message;
      const params: [string, string][] = [
        ...messageParams(m),
        ['NumMedia', m.num_media],
        ['NumSegments', m.num_segments],
        ['SmsStatus', 'received'],
        ['ApiVersion', API_VERSION],
      ];
      media.forEach((item, i) => {
        // The media's REST URI without `.json`: fetching it returns the bytes.
        const path = `${m.uri.slice(0, -'.json'.length)}/Media/${item.sid}`;
        params.push([`MediaUrl${i}`, `${sim.url}${path}`], [`MediaContentType${i}`, item.content_type]);
      });
      const result = await postSignedForm(agent, webhookUrl, params, sim.signingKey);
      return { message: snapshot(entry), ...result };
    },

    async setStatus(sid, status, { errorCode, errorMessage, callbackUrl } = {}) {
      const entry = entryOf(sid);
      const m = entry.message;
      const now = rfc2822(new Date());
      m.status = status;
      m.date_updated = now;
      if (m.date_sent === null && SENT_STATES.has(status)) m.date_sent = now;
      const numeric = errorCode !== undefined && !sim.codesAsStrings && /^\d+$/.test(errorCode);
      m.error_code = numeric ? Number(errorCode) : (errorCode ?? null);
      m.error_message = errorMessage ?? null;
      const url = callbackUrl ?? entry.statusCallback;
      if (!url) return null;
      const params: [string, string][] = [...messageParams(m), ['MessageStatus', status], ['SmsStatus', status]];
      if (errorCode !== undefined) params.push(['ErrorCode', errorCode]);
      params.push(['NumMedia', m.num_media], ['NumSegments', m.num_segments], ['ApiVersion', API_VERSION]);
      return (await postSignedForm(agent, url, params, sim.signingKey)).status;
    },

    async close() {
      shutdown.abort();
      sim.faults.releaseHanging();
      await Promise.allSettled(inFlight);
      const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
      server.closeAllConnections();
      await closed;
      await agent.close();
    },
  };

  const onCreated = (entry: StoredMessage) => {
    if (!sim.autoDeliver) return;
    // Rejects only when close() aborts the wait.
    const delivery = deliverLater(entry.message.sid).catch(() => undefined);
    inFlight.add(delivery);
    void delivery.finally(() => inFlight.delete(delivery));
  };

  const handler = createApiHandler(sim, store, onCreated);
  const server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  sim.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return sim;
}
