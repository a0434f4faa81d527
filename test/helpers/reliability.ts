/**
 * Reliability scenarios shared by the fast tests (small numbers, in `npm test`) and the soak
 * (`npm run soak`, the contract's numbers). Each drives a wired channel (channel.ts) through
 * one kind of trouble, waits for convergence and returns its figures, counted from what the
 * simulators received: an expected message missing at its provider is lost; a second copy,
 * or anything no one asked for, is a duplicate. The client's side is the channel's line:
 * SMS through SignalWire, or WhatsApp (where Meta's `sent` receipts are played back, as
 * Meta sends them, so sends whose answer was lost settle).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import type { Fault, FaultInjector } from '../../src/simulators/faults.ts';
import type { WhatsAppSimulator } from '../../src/simulators/whatsapp.ts';
import { CHANNEL_ID, SUPPORT, type ChannelSetup } from './channel.ts';
import { spawnNode, type Child } from './processes.ts';
import { waitFor } from './wait.ts';

export interface Figures {
  scenario: string;
  /** Messages both ways: SMS in (→ Front) plus Front replies (→ SMS). */
  messages: number;
  faultsInjected: number;
  duplicates: number;
  lost: number;
  /** From the end of the fault (or, for ongoing faults, the last message in) to every message delivered. */
  convergeMs: number;
  [detail: string]: number | string;
}

/** A distinct client number per message, so every SMS and every lookup stands alone. */
export const clientNumber = (i: number) => `+1555${String(2_000_000 + i)}`;

/** The client's provider, as the scenarios see it. */
interface Line {
  faults: FaultInjector;
  requests: { method: string; at: Date }[];
  /** A client's message in (`pollOnly`: stored at the provider only, for a poll to find, where the provider is polled). */
  clientWrites(from: string, body: string, options: { pollOnly?: boolean }): Promise<void>;
  /** The text of every reply the provider took, in order. */
  sent(): (string | null)[];
  /** How many sends the provider was asked for (answered or not). */
  sendRequests(): number;
  /** Replies go only to clients who wrote first (WhatsApp's 24-hour window). */
  replyNeedsClient: boolean;
  close(): Promise<void>;
}

function smsLine(setup: ChannelSetup): Line {
  const { signalwire, sw, publicUrl } = setup;
  return {
    faults: signalwire.faults,
    requests: signalwire.requests,
    async clientWrites(from, body, { pollOnly }) {
      if (pollOnly) return void signalwire.addMessage({ from, to: SUPPORT, body });
      const { status } = await signalwire.receiveInbound({ from, to: SUPPORT, body }, `${publicUrl}/v1/service_integrations/${sw.opaque_id}`);
      if (status !== 200) throw new Error(`inbound webhook answered ${status}`);
    },
    sent: () => signalwire.sent().map((m) => m.body),
    sendRequests: () => signalwire.requests.filter((r) => r.method === 'POST').length,
    replyNeedsClient: false,
    close: async () => {},
  };
}

/** Meta's `sent` receipt for every message the simulator took, each once, every 100 ms. */
function playReceipts(whatsapp: WhatsAppSimulator, hook: string): () => Promise<void> {
  const told = new Set<string>();
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      for (const message of whatsapp.sent()) {
        if (told.has(message.wamid) || stop) continue;
        if ((await whatsapp.sendStatus(message.wamid, 'sent', hook).catch(() => ({ status: 0 }))).status === 200) told.add(message.wamid);
      }
      await sleep(100);
    }
  })();
  return async () => {
    stop = true;
    await loop;
  };
}

function whatsAppLine(setup: ChannelSetup, whatsapp: WhatsAppSimulator): Line {
  const hook = `${setup.publicUrl}/v1/service_integrations/${setup.wa!.opaque_id}`;
  const stopReceipts = playReceipts(whatsapp, hook);
  const isSend = (r: { method: string; path: string; body: unknown }) => r.method === 'POST' && r.path.endsWith('/messages') && (r.body as { status?: unknown } | null)?.status !== 'read';
  return {
    faults: whatsapp.faults,
    requests: whatsapp.requests,
    // WhatsApp is not polled: every message comes by webhook.
    async clientWrites(from, body) {
      const { status } = await whatsapp.receiveInbound({ from: from.slice(1), type: 'text', fields: { text: { body } } }, hook);
      if (status !== 200) throw new Error(`inbound webhook answered ${status}`);
    },
    sent: () => whatsapp.sent().map((m) => (m.request.text as { body?: string } | undefined)?.body ?? null),
    sendRequests: () => whatsapp.requests.filter(isSend).length,
    replyNeedsClient: true,
    close: stopReceipts,
  };
}

/** Messages sent through the simulators, and what each provider should end up with. */
export class Traffic {
  readonly inbound: string[] = [];
  readonly outbound: string[] = [];
  readonly setup: ChannelSetup;
  readonly line: Line;
  #next = 0;

  constructor(setup: ChannelSetup) {
    this.setup = setup;
    this.line = setup.whatsapp ? whatsAppLine(setup, setup.whatsapp) : smsLine(setup);
    // As for worker processes (workerEnv): receipts come at once here, so a short hold loses nothing.
    setup.engine.config.whatsappSendHoldMs = 2000;
  }

  get size(): number {
    return this.inbound.length + this.outbound.length;
  }

  /** A client's message (by webhook; `pollOnly`: stored at the provider only, for the poll to find). */
  async smsIn(options: { pollOnly?: boolean } = {}): Promise<void> {
    const i = this.#next++;
    const body = `in ${i}`;
    this.inbound.push(body);
    await this.line.clientWrites(clientNumber(i), body, options);
  }

  /** A counsellor's reply in Front to one client (on WhatsApp, one who wrote first: that message counts as inbound). */
  async reply(): Promise<void> {
    const i = this.#next++;
    if (this.line.replyNeedsClient) {
      this.inbound.push(`hello ${i}`);
      await this.line.clientWrites(clientNumber(i), `hello ${i}`, {});
    }
    const body = `out ${i}`;
    this.outbound.push(body);
    const response = await this.setup.frontClient.message({ id: `msg_r${i}`, channelId: CHANNEL_ID, text: body, to: [clientNumber(i)] });
    if (response.status !== 200) throw new Error(`Front message webhook answered ${response.status}`);
  }

  /** `count` messages each way, `parallel` at a time; every `pollOnlyEvery`th SMS only by poll. */
  async both(count: number, options: { parallel?: number; pollOnlyEvery?: number; spreadMs?: number } = {}): Promise<void> {
    const parallel = options.parallel ?? 8;
    for (let i = 0; i < count; i += parallel) {
      const batch = Math.min(parallel, count - i);
      await Promise.all(
        Array.from({ length: batch }, (_, k) => [this.smsIn({ pollOnly: options.pollOnlyEvery ? (i + k) % options.pollOnlyEvery === 0 : false }), this.reply()]).flat(),
      );
      if (options.spreadMs) await sleep((options.spreadMs * batch) / count);
    }
  }

  /** Lost and duplicated messages, as the providers saw them. */
  tally(): { lost: number; duplicates: number } {
    const count = (expected: string[], received: (string | null)[]) => {
      const wanted = new Set(expected);
      const seen = new Set(received.filter((body): body is string => body !== null && wanted.has(body)));
      return { lost: wanted.size - seen.size, duplicates: received.length - seen.size };
    };
    const front = count(this.inbound, this.setup.front.inbox.map((m) => m.body));
    const sms = count(this.outbound, this.line.sent());
    return { lost: front.lost + sms.lost, duplicates: front.duplicates + sms.duplicates };
  }

  async pending(): Promise<number> {
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM ${sql.table(this.setup.channel.service_name)}
      WHERE integration_id = ${this.setup.channel.id} AND delivery_status = 'pending'`.execute(this.setup.engine.db);
    return rows[0]!.n;
  }

  /** Wait until nothing is lost or pending, then a moment more so late duplicates would show. */
  async converge(timeoutMs: number): Promise<number> {
    await waitFor(async () => this.tally().lost === 0 && (await this.pending()) === 0, { timeoutMs, intervalMs: 100, what: 'convergence' });
    const at = Date.now();
    await sleep(1000);
    return at;
  }

  /** Stop what the line plays back on its own (WhatsApp's receipts). */
  close(): Promise<void> {
    return this.line.close();
  }
}

const injectedCount = (faults: FaultInjector) => Object.entries(faults.injected).reduce((sum, [kind, n]) => (kind === 'latency' ? sum : sum + n), 0);

function figures(scenario: string, traffic: Traffic, convergeMs: number, details: Record<string, number | string> = {}): Figures {
  return { scenario, messages: traffic.size, faultsInjected: injectedCount(traffic.line.faults) + injectedCount(traffic.setup.front.faults), ...traffic.tally(), convergeMs, ...details };
}

/** Settings of a `switchboard worker` process on this setup's database and simulators. */
export function workerEnv(setup: Pick<ChannelSetup, 'databaseUrl' | 'publicUrl' | 'front'>, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: setup.databaseUrl,
    PUBLIC_URL: setup.publicUrl,
    FRONT_API_URL: setup.front.url,
    FRONT_CHANNEL_APP_UID: setup.front.appUid,
    FRONT_CHANNEL_APP_SECRET: setup.front.appSecret,
    SWITCHBOARD_POLL_CRON: '0 0 1 1 *',
    // Meta's receipts are played back within 100 ms here: a send that got no answer and no receipt never reached it.
    SWITCHBOARD_WHATSAPP_SEND_HOLD_S: '2',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

export const spawnWorker = (env: Record<string, string>): Child => spawnNode(['bin/switchboard.js', 'worker'], env);

/** Seeded pseudo-random numbers, so a failing run can be replayed. */
export function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

/**
 * Races: `workers` worker processes, the poll job (the crontab's, queued every 100 ms) and
 * manual `switchboard backfill` runs (queued, and `--wait` runs here) all on the same two
 * integrations while `perDirection` messages arrive each way.
 */
export async function races(setup: ChannelSetup, options: { perDirection: number; workers?: number; timeoutMs?: number }): Promise<Figures> {
  const env = workerEnv(setup, { SWITCHBOARD_WORKER_CONCURRENCY: '2', SWITCHBOARD_PG_POOL_SIZE: '8' });
  const workers = Array.from({ length: options.workers ?? 4 }, () => spawnWorker(env));
  try {
    await Promise.all(workers.map((w) => waitFor(() => w.output().includes('worker running'), { timeoutMs: 60_000, what: 'worker start' })));
    const traffic = new Traffic(setup);
    const sw = String((setup.wa ?? setup.sw).id);
    const channel = String(setup.channel.id);
    // Queued runs only add a job; `--wait` runs run the pass here (waiting for a running one), one at a time.
    const queued = [['backfill', sw, '--incremental'], ['backfill', channel], ['backfill', sw]];
    const waited = [['backfill', channel, '--wait', '--json'], ['backfill', sw, '--incremental', '--wait', '--json']];
    let stop = false;
    let manualRuns = 0;
    let polls = 0;
    let waiting: Promise<void> | null = null;
    let manualFailure: string | null = null;
    const backfill = async (args: string[]) => {
      manualRuns++;
      try {
        const run = await setup.cli(...args);
        if (run.code !== 0) manualFailure ??= `switchboard ${args.join(' ')}: ${run.stderr}`;
      } catch (error) {
        manualFailure ??= `switchboard ${args.join(' ')}: ${(error as Error).message}`;
      }
    };
    const interfere = async () => {
      for (let tick = 0; !stop; tick++) {
        await sql`SELECT graphile_worker.add_job('poll_integrations')`.execute(setup.engine.db);
        polls++;
        if (tick % 3 === 0) await backfill(queued[(tick / 3) % queued.length]!);
        waiting ??= backfill(waited[tick % waited.length]!).finally(() => (waiting = null));
        await sleep(100);
      }
      await waiting;
      if (manualFailure) throw new Error(manualFailure);
    };
    const interference = interfere();
    let lastIn = 0;
    let convergedAt = 0;
    try {
      await traffic.both(options.perDirection, { pollOnlyEvery: setup.whatsapp ? 0 : 10 });
      lastIn = Date.now();
      convergedAt = await traffic.converge(options.timeoutMs ?? 60_000);
    } finally {
      stop = true;
      await interference;
      await traffic.close();
    }
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM backfill_runs`.execute(setup.engine.db);
    const exits = await Promise.all(workers.map((w) => w.stop('SIGTERM')));
    return figures('races', traffic, convergedAt - lastIn, {
      workers: workers.length,
      passes: rows[0]!.n,
      pollJobs: polls,
      manualBackfills: manualRuns,
      workerExits: exits.join(','),
    });
  } finally {
    await Promise.all(workers.map((w) => w.stop('SIGKILL')));
  }
}

/** Both providers down: the line's API (SignalWire's, WhatsApp's) drops every connection, Front answers 503. */
function takeDown(traffic: Traffic): () => void {
  const { line, setup } = traffic;
  Object.assign(line.faults, { rate: 1, kinds: [{ kind: 'reset' }] satisfies Fault[] });
  Object.assign(setup.front.faults, { rate: 1, kinds: [{ kind: 'status', status: 503, body: { _error: { status: 503, title: 'Service Unavailable' } } }] satisfies Fault[] });
  return () => {
    line.faults.rate = 0;
    setup.front.faults.rate = 0;
  };
}

/**
 * Outage: both providers down for `outageMs` while a third of the messages arrive, the
 * rest after. `simulateLongOutage` (the fast test's simulated time): rows still backing off
 * when it ends are moved ten minutes out, where a long outage leaves them; the backlog must
 * still drain as soon as the providers answer again, not when those back-offs run out.
 */
export async function outage(
  setup: ChannelSetup,
  options: { perDirection: number; outageMs: number; simulateLongOutage?: boolean; timeoutMs?: number },
): Promise<Figures> {
  await setup.startWorker();
  const traffic = new Traffic(setup);
  try {
    const third = Math.ceil(options.perDirection / 3);
    await traffic.both(third);
    await traffic.converge(options.timeoutMs ?? 60_000);

    const restore = takeDown(traffic);
    const started = Date.now();
    await traffic.both(third, { spreadMs: options.outageMs });
    await sleep(Math.max(0, started + options.outageMs - Date.now()));
    const backlog = await traffic.pending();
    if (options.simulateLongOutage) {
      await sql`
        UPDATE ${sql.table(setup.channel.service_name)} SET next_attempt_at = now() + interval '10 minutes'
        WHERE integration_id = ${setup.channel.id} AND next_attempt_at > now()`.execute(setup.engine.db);
    }
    restore();
    const ended = Date.now();
    await traffic.both(options.perDirection - 2 * third);
    const convergedAt = await traffic.converge(options.timeoutMs ?? 60_000);
    const during = (requests: { at: Date }[]) => requests.filter((r) => r.at.getTime() >= started && r.at.getTime() < ended).length;
    return figures('outage', traffic, convergedAt - ended, {
      outageSeconds: Math.round((ended - started) / 1000),
      backlogAtEnd: backlog,
      providerCallsDuringOutage: during(traffic.line.requests) + during(setup.front.requests),
    });
  } finally {
    await traffic.close();
  }
}

/**
 * Crashes: `messages` replies drained by a worker process SIGKILLed `rounds` times (the
 * faults injected), each time after a (seeded) random number of sends, and restarted.
 * The line's API answers slowly (`latencyMs`), so kills land between a send and its write-back.
 */
export async function crashDrain(setup: ChannelSetup, options: { messages: number; rounds: number; latencyMs?: number; seed?: number; timeoutMs?: number }): Promise<Figures> {
  const traffic = new Traffic(setup);
  for (let i = 0; i < options.messages; i += 10) await Promise.all(Array.from({ length: Math.min(10, options.messages - i) }, () => traffic.reply()));
  traffic.line.faults.latencyMs = options.latencyMs ?? 40;
  const random = seeded(options.seed ?? 7);
  const posts = () => traffic.line.sendRequests();
  const env = workerEnv(setup);
  const workers: Child[] = [];
  let slowestResumeMs = 0;
  /** A worker, and how long it took to send its first SMS. */
  const restart = async () => {
    const before = posts();
    const started = Date.now();
    const worker = spawnWorker(env);
    workers.push(worker);
    await waitFor(() => posts() > before || (traffic.tally().lost === 0 && posts() >= options.messages), { timeoutMs: 60_000, intervalMs: 20, what: 'work to resume after a restart' });
    slowestResumeMs = Math.max(slowestResumeMs, Date.now() - started);
    return { worker, before };
  };
  try {
    const maxSends = Math.max(4, Math.floor(options.messages / (options.rounds * 2)));
    for (let round = 0; round < options.rounds; round++) {
      const { worker, before } = await restart();
      const sends = 2 + Math.floor(random() * (maxSends - 2));
      await waitFor(() => posts() >= before + sends, { timeoutMs: 60_000, intervalMs: 5, what: 'sends before the kill' });
      if ((await worker.stop('SIGKILL')) !== 'SIGKILL') throw new Error('the worker was not killed');
    }
    const last = await restart();
    const restartedAt = Date.now();
    const convergedAt = await traffic.converge(options.timeoutMs ?? 120_000);
    const exit = await last.worker.stop('SIGTERM');
    return figures('crash', traffic, convergedAt - restartedAt, {
      faultsInjected: options.rounds,
      slowestResumeMs,
      // WhatsApp has no lookup: its receipts settle such sends.
      lookupsAfterUnknownOutcome: setup.whatsapp ? 'n/a' : setup.signalwire.requests.filter((r) => r.method === 'GET' && r.query.To).length,
      lastWorkerExit: exit,
    });
  } finally {
    traffic.line.faults.latencyMs = 0;
    await Promise.all(workers.map((w) => w.stop('SIGKILL')));
    await traffic.close();
  }
}

/**
 * Provider faults: `rate` of calls fail (seeded) with 429 + Retry-After, 500, resets,
 * calls whose answer is lost after the provider did the work (SignalWire sends, Front
 * imports — the first Front call always) and, `withTimeouts`, calls never answered (each
 * costs the 15 s provider timeout). Faults go on until everything converged. An import of
 * unknown outcome waits `importHoldMs` for Front's `message_imported` notice (the
 * simulator sends it at once; short, since resets and 5xx also leave imports unknown).
 */
export async function providerFaults(
  setup: ChannelSetup,
  options: { perDirection: number; rate: number; withTimeouts?: boolean; timeoutMs?: number; importHoldMs?: number },
): Promise<Figures> {
  const common: Fault[] = [
    { kind: 'status', status: 429, headers: { 'retry-after': '1' }, body: { code: 20429, message: 'Too Many Requests' } },
    { kind: 'status', status: 500, body: {} },
    { kind: 'reset' },
  ];
  // Timeouts are rarer than the others: each holds the channel's pass for the whole timeout.
  const slow: Fault[] = options.withTimeouts ? [{ kind: 'timeout' }] : [];
  const traffic = new Traffic(setup);
  const line = traffic.line.faults;
  const provider = setup.whatsapp ? 'whatsapp' : 'signalwire';
  Object.assign(line, { rate: options.rate, kinds: [...common, ...common, { kind: 'lost-response' }, ...slow], random: seeded(11) });
  Object.assign(setup.front.faults, { rate: options.rate, kinds: [...common, ...common, { kind: 'lost-response' }, ...slow], random: seeded(17) });
  setup.front.faults.script = [{ kind: 'lost-response' }];
  setup.engine.config.front.importHoldMs = options.importHoldMs ?? 3000;
  try {
    await setup.startWorker();
    await traffic.both(options.perDirection, { parallel: 4 });
    const lastIn = Date.now();
    const convergedAt = await traffic.converge(options.timeoutMs ?? 120_000);
    const kinds = (faults: FaultInjector) => Object.entries(faults.injected).filter(([kind]) => kind !== 'latency');
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM ${sql.table(setup.channel.service_name)}
      WHERE integration_id = ${setup.channel.id} AND front_message_id = front_imported_id`.execute(setup.engine.db);
    return figures('provider-faults', traffic, convergedAt - lastIn, {
      faultRate: options.rate,
      importsSettledByNotice: rows[0]!.n,
      ...Object.fromEntries(kinds(line).map(([kind, n]) => [`${provider}_${kind}`, n])),
      ...Object.fromEntries(kinds(setup.front.faults).map(([kind, n]) => [`front_${kind}`, n])),
    });
  } finally {
    line.rate = 0;
    setup.front.faults.rate = 0;
    await traffic.close();
  }
}
