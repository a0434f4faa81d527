/**
 * 2. Convergence latency, open loop, as a curve: at each offered rate, both ways at once
 * (`rate` SMS webhooks/s and `rate` Front `message` requests/s, sent on schedule whether or
 * not earlier ones have converged) against `switchboard start` with its worker. SMS → Front:
 * from the webhook's scheduled time to the message's import into the simulated Front inbox;
 * Front → SMS: from the `message` request's scheduled time to SignalWire's API receiving the
 * SMS. Counting from the schedule, not from when the request went out, keeps a late load
 * generator from hiding queueing (coordinated omission). The step itself takes the client's
 * side as a ConvergenceLine, so whatsapp.ts runs the same step over WhatsApp.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DEMO_SUPPORT, SMS_CHANNEL_ID } from '../../src/demo/environment.ts';
import { openLoop, percentiles, runCurve, type CurveStep, type Percentiles } from './curve.ts';
import { CLIENTS, clientNumber } from './seed.ts';
import type { System } from './system.ts';

/** The limit for a sustainable rate: p99 within 1 s both ways. */
export const CONVERGENCE_LIMIT_MS = 1000;
/** A step whose p99 passes this is clearly saturated: higher rates are not offered. */
const SATURATED_MS = 5 * CONVERGENCE_LIMIT_MS;

export interface Direction extends Percentiles {
  sent: number;
  /** Requests the sender gave up on (timeout) or that were refused. */
  failed_requests: number;
  /** Accepted but not converged when the step's wait ran out: counted in the percentiles with the time waited, so p99/max are then lower bounds. */
  not_converged: number;
}

/** The client's side of a channel, as a convergence step drives it. */
export interface ConvergenceLine {
  /** A client's message in, by the provider's webhook; resolves with the HTTP status. */
  clientWrites(client: string, text: string): Promise<number>;
  /** A counsellor's reply `id` in Front to the client; resolves with the HTTP status. */
  counsellorReplies(id: string, client: string, text: string): Promise<number>;
  /** Texts the provider was asked to send since the previous call, each with when (epoch ms). */
  newSends(): [string, number][];
}

/** One step's figures: client → Front, Front → client. */
export interface LineStep extends CurveStep {
  toFront: Direction;
  toClient: Direction;
  /** p99 of how late the generator sent a request after its scheduled time. */
  send_lag_p99_ms: number;
}

export interface ConvergenceStep extends CurveStep {
  sms_to_front: Direction;
  front_to_sms: Direction;
  send_lag_p99_ms: number;
}

export interface ConvergenceResult {
  convergence_curve: Record<string, ConvergenceStep>;
  convergence_max_rate_per_s: number;
  convergence_curve_stopped?: string;
  convergence_step_s: number;
  /** The 200/s step under the keys earlier runs wrote. */
  convergence_rate_per_s?: number;
  convergence_sms_to_front_p50_ms?: number;
  convergence_sms_to_front_p99_ms?: number;
  convergence_sms_to_front_max_ms?: number;
  convergence_sms_to_front_failed_requests?: number;
  convergence_front_to_sms_p50_ms?: number;
  convergence_front_to_sms_p99_ms?: number;
  convergence_front_to_sms_max_ms?: number;
  convergence_front_to_sms_failed_requests?: number;
}

/** One direction's messages: scheduled time by text, arrival time by text, failed requests. */
class Flow {
  readonly scheduled = new Map<string, number>();
  readonly arrived = new Map<string, number>();
  readonly failed = new Set<string>();
  #inFlight = 0;

  /** Starts a send (not awaited by the schedule); a failed or refused request is counted, not thrown. */
  send(text: string, at: number, request: () => Promise<number>): void {
    this.scheduled.set(text, at);
    this.#inFlight++;
    void request()
      .then(
        (status) => void (status >= 200 && status < 300 ? null : this.failed.add(text)),
        // A provider gives up on a request after its timeout (SignalWire: 5 s): a failure to report.
        () => void this.failed.add(text),
      )
      .finally(() => this.#inFlight--);
  }

  arrive(text: string, at: number): void {
    if (this.scheduled.has(text) && !this.arrived.has(text)) this.arrived.set(text, at);
  }

  /** Every request answered, and every accepted message arrived. */
  get done(): boolean {
    if (this.#inFlight > 0) return false;
    for (const text of this.scheduled.keys()) if (!this.arrived.has(text) && !this.failed.has(text)) return false;
    return true;
  }

  summary(waitedUntil: number): Direction {
    const latencies: number[] = [];
    let notConverged = 0;
    for (const [text, at] of this.scheduled) {
      const arrived = this.arrived.get(text);
      if (arrived !== undefined) latencies.push(arrived - at);
      // A refused request may never converge: it is reported as failed, not as slow.
      else if (!this.failed.has(text)) {
        notConverged++;
        latencies.push(waitedUntil - at);
      }
    }
    return { ...percentiles(latencies), sent: this.scheduled.size, failed_requests: this.failed.size, not_converged: notConverged };
  }
}

/** At `rate` a second for durationS, each way at once, one message per client in turn; then waits up to waitS for all to converge. */
export async function convergenceStep(system: System, line: ConvergenceLine, rate: number, options: { durationS: number; waitS: number }): Promise<LineStep> {
  const { front } = system;
  const toFront = new Flow();
  const toClient = new Flow();
  // Many clients, not one: a helpline's load comes from many conversations, each in order.
  const lag = await openLoop(rate, Math.round(rate * options.durationS), (i, at) => {
    const client = clientNumber(i, CLIENTS);
    const tag = `${rate}/${i} ${Math.random().toString(36).slice(2)}`;
    toFront.send(`in ${tag}`, at, () => line.clientWrites(client, `in ${tag}`));
    toClient.send(`out ${tag}`, at, () => line.counsellorReplies(`msg_${tag.replace(/\W/g, '_')}`, client, `out ${tag}`));
  });
  const deadline = Date.now() + options.waitS * 1000;
  let inboxSeen = 0;
  for (;;) {
    for (; inboxSeen < front.inbox.length; inboxSeen++) {
      const message = front.inbox[inboxSeen]!;
      toFront.arrive(message.body, message.at.getTime());
    }
    for (const [text, at] of line.newSends()) toClient.arrive(text, at);
    if ((toFront.done && toClient.done) || Date.now() > deadline) break;
    await sleep(50);
  }
  // Requests still unanswered at the deadline count as not converged; the curve stops here.
  const waitedUntil = Date.now();
  const inbound = toFront.summary(waitedUntil);
  const outbound = toClient.summary(waitedUntil);
  const p99 = Math.max(inbound.p99, outbound.p99);
  const unconverged = inbound.not_converged + outbound.not_converged;
  const saturated =
    unconverged > 0 ? `${unconverged} messages not converged ${options.waitS} s after the last send` : p99 > SATURATED_MS ? `p99 ${p99} ms, past ${SATURATED_MS} ms` : null;
  return { toFront: inbound, toClient: outbound, send_lag_p99_ms: lag, p99, saturated };
}

/** The SMS channel's client side: SignalWire's webhook in, SignalWire's API receiving the sends. */
function smsLine(system: System): ConvergenceLine {
  const { signalwire } = system;
  let seen = 0;
  return {
    clientWrites: async (client, text) => (await signalwire.receiveInbound({ from: client, to: DEMO_SUPPORT, body: text }, system.signalwireHook)).status,
    counsellorReplies: async (id, client, text) => (await system.smsChannel.message({ id, channelId: SMS_CHANNEL_ID, text, to: [client] })).status,
    newSends() {
      const sends: [string, number][] = [];
      for (; seen < signalwire.requests.length; seen++) {
        const request = signalwire.requests[seen]!;
        if (request.method === 'POST') sends.push([request.form.find(([k]) => k === 'Body')?.[1] ?? '', request.at.getTime()]);
      }
      return sends;
    },
  };
}

async function step(system: System, rate: number, options: { durationS: number; waitS: number }): Promise<ConvergenceStep> {
  const { toFront, toClient, ...rest } = await convergenceStep(system, smsLine(system), rate, options);
  return { sms_to_front: toFront, front_to_sms: toClient, ...rest };
}

export async function measureConvergence(system: System, options: { rates: number[]; durationS: number; waitS: number }): Promise<ConvergenceResult> {
  const server = await system.start();
  try {
    // A fresh process's first messages pay for its warm-up (lazy imports, pools, JIT): not a rate's latency.
    await step(system, 10, { durationS: 2, waitS: options.waitS });
    const { curve, maxRate, stopped } = await runCurve(options.rates, CONVERGENCE_LIMIT_MS, (rate) => step(system, rate, options));
    const at200 = curve['200'];
    return {
      convergence_curve: curve,
      convergence_max_rate_per_s: maxRate,
      ...(stopped ? { convergence_curve_stopped: stopped } : {}),
      convergence_step_s: options.durationS,
      ...(at200 && {
        convergence_rate_per_s: 200,
        convergence_sms_to_front_p50_ms: at200.sms_to_front.p50,
        convergence_sms_to_front_p99_ms: at200.sms_to_front.p99,
        convergence_sms_to_front_max_ms: at200.sms_to_front.max,
        convergence_sms_to_front_failed_requests: at200.sms_to_front.failed_requests,
        convergence_front_to_sms_p50_ms: at200.front_to_sms.p50,
        convergence_front_to_sms_p99_ms: at200.front_to_sms.p99,
        convergence_front_to_sms_max_ms: at200.front_to_sms.max,
        convergence_front_to_sms_failed_requests: at200.front_to_sms.failed_requests,
      }),
    };
  } finally {
    await server.stop();
  }
}
