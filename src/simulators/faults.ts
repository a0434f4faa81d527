/**
 * Error injection shared by the provider simulators: a script of faults consumed one per
 * request, then random faults at a rate. A fault answers with a status (429 with
 * Retry-After, coded 4xx, 5xx), never answers (timeout), resets the connection, does the
 * work but loses the answer, or only delays the normal answer. A rate limit, when set,
 * answers 429 with Retry-After to requests beyond N a second per sender or account.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export type Fault =
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'timeout' }
  | { kind: 'reset' }
  | { kind: 'latency'; ms: number }
  /** Do the work, then drop the connection instead of answering: the caller cannot know it succeeded. */
  | { kind: 'lost-response' };

/** At most `perSecond` requests in any one-second window, per sender (e.g. a phone number) or per account. */
export interface RateLimit {
  perSecond: number;
  per: 'sender' | 'account';
}

export class FaultInjector {
  /** Consumed first, one fault per request, in order. */
  script: Fault[] = [];
  /** Then, with this probability, one of `kinds` at random. */
  rate = 0;
  kinds: Fault[] = [];
  /** Added to every answer. */
  latencyMs = 0;
  random: () => number = Math.random;
  /** The rate limit's clock (epoch ms); tests may set it. */
  now: () => number = Date.now;
  /** How many faults were injected, by kind. */
  readonly injected: Record<Fault['kind'], number> = { status: 0, timeout: 0, reset: 0, latency: 0, 'lost-response': 0 };
  /** Null: no limit. The simulator names the key (`limit`) for the kind of request limited. */
  rateLimit: RateLimit | null = null;
  /** When each request refused by the rate limit came (epoch ms). */
  readonly rateLimited: number[] = [];
  readonly #admitted = new Map<string, number[]>();
  readonly #hanging = new Set<ServerResponse>();

  next(): Fault | null {
    const scripted = this.script.shift();
    if (scripted) return scripted;
    if (this.rate > 0 && this.kinds.length > 0 && this.random() < this.rate) {
      return this.kinds[Math.floor(this.random() * this.kinds.length)] ?? null;
    }
    return null;
  }

  /** Apply the next fault to a request; true when the fault took over the response. */
  async apply(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    if (this.latencyMs > 0) await sleep(this.latencyMs);
    const fault = this.next();
    return fault ? this.#inject(fault, req, res) : false;
  }

  /**
   * Count a request under `key` (the sender or the account, as `rateLimit.per` says) against
   * the rate limit (a sliding one-second window); beyond it, answer 429 with `body` and
   * Retry-After: 1, since the window has room again within a second. True when refused.
   */
  async limit(key: { sender: string; account: string }, req: IncomingMessage, res: ServerResponse, body: unknown): Promise<boolean> {
    if (!this.rateLimit) return false;
    const now = this.now();
    const id = key[this.rateLimit.per];
    const window = (this.#admitted.get(id) ?? []).filter((at) => at > now - 1000);
    this.#admitted.set(id, window);
    if (window.length < this.rateLimit.perSecond) {
      window.push(now);
      return false;
    }
    this.rateLimited.push(now);
    return this.#inject({ kind: 'status', status: 429, body, headers: { 'retry-after': '1' } }, req, res);
  }

  async #inject(fault: Fault, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    this.injected[fault.kind]++;
    switch (fault.kind) {
      case 'latency':
        await sleep(fault.ms);
        return false;
      case 'status': {
        const body = fault.body === undefined ? '' : typeof fault.body === 'string' ? fault.body : JSON.stringify(fault.body);
        res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
        res.end(body);
        return true;
      }
      case 'reset':
        req.socket.destroy();
        return true;
      case 'lost-response':
        res.writeHead = () => res;
        res.end = () => {
          req.socket.destroy();
          return res;
        };
        return false;
      case 'timeout':
        // Hold the request open; released (destroyed) when the simulator closes.
        this.#hanging.add(res);
        res.on('close', () => this.#hanging.delete(res));
        return true;
    }
  }

  /** Drop requests held open by `timeout` faults (call before closing the server). */
  releaseHanging(): void {
    for (const res of this.#hanging) res.socket?.destroy();
    this.#hanging.clear();
  }
}
