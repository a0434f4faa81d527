/**
 * Prometheus metrics (prom-client), served at GET /metrics. Counters and histograms are
 * updated where the work happens; the per-integration figures (pending rows and the age of
 * the oldest, failed rows, whether the last pass ended in an error) are read from the
 * database at scrape time, at most every few seconds (GAP_CACHE_MS), so frequent scrapes
 * cannot load the database. Process metrics keep prom-client's standard names (no prefix),
 * so stock Node.js dashboards work.
 * Labels carry service names, routes, gateways and outcomes — never ids of people.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const metrics = new Registry();
collectDefaultMetrics({ register: metrics });

const seconds = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const httpRequests = new Counter({
  name: 'switchboard_http_requests_total',
  help: 'HTTP requests by route pattern, method and status (webhooks included).',
  labelNames: ['route', 'method', 'status'] as const,
  registers: [metrics],
});

export const httpDuration = new Histogram({
  name: 'switchboard_http_request_duration_seconds',
  help: 'HTTP request duration by route pattern.',
  labelNames: ['route'] as const,
  buckets: seconds,
  registers: [metrics],
});

export const upsertDuration = new Histogram({
  name: 'switchboard_upsert_duration_seconds',
  help: 'Duration of one upsert statement, by replicator.',
  labelNames: ['service'] as const,
  buckets: seconds,
  registers: [metrics],
});

export const deliveries = new Counter({
  name: 'switchboard_deliveries_total',
  help: 'Delivery attempts of channel rows by outcome: delivered, skipped, failed (coded, not retried), retry (backing off).',
  labelNames: ['service', 'outcome'] as const,
  registers: [metrics],
});

export const passDuration = new Histogram({
  name: 'switchboard_backfill_pass_duration_seconds',
  help: 'Duration of backfill passes (the job work) by replicator and result.',
  labelNames: ['service', 'status'] as const,
  buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
  registers: [metrics],
});

export const ussdHopDuration = new Histogram({
  name: 'switchboard_ussd_hop_duration_seconds',
  help: 'USSD hop latency from arrival to answer, by gateway and outcome (answered, replay, fallback).',
  labelNames: ['gateway', 'outcome'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5],
  registers: [metrics],
});

export const webhookCommits = new Counter({
  name: 'switchboard_webhook_commits_total',
  help: 'Group commits of webhook rows (src/engine/group-commit.ts): committed, or failed and retried one request at a time.',
  labelNames: ['outcome'] as const,
  registers: [metrics],
});

export const webhookBatchRequests = new Histogram({
  name: 'switchboard_webhook_batch_requests',
  help: 'Webhook requests sharing one group commit.',
  buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
  registers: [metrics],
});

export const webhookWaiting = new Gauge({
  name: 'switchboard_webhook_requests_waiting',
  help: 'Webhook requests waiting for their integration\'s commit in flight, to share the next one.',
  registers: [metrics],
});

export const webhookLogDropped = new Counter({
  name: 'switchboard_webhook_log_dropped_total',
  help: 'Unauthenticated requests left out of the webhook log: over the per-address rate limit.',
  registers: [metrics],
});

/** One integration's figures; null where its replicator has no such rows (no `pendingWhere`, no `failedWhere`). */
export interface IntegrationFigures {
  integrationId: number;
  service: string;
  pending: number | null;
  oldestSeconds: number | null;
  failed: number | null;
  /** The last pass ended in an error still stored on the integration (`status` shows it). */
  error: boolean;
}

/** How long a read of the figures serves scrapes: each read queries every integration's table. */
export const GAP_CACHE_MS = 5000;

const GAUGES: [name: string, help: string, pick: (f: IntegrationFigures) => number | null][] = [
  ['switchboard_pending_rows', 'Rows waiting for delivery, per integration.', (f) => f.pending],
  ['switchboard_oldest_pending_seconds', 'Age of the oldest row waiting for delivery, per integration (0 when none).', (f) => (f.pending === null ? null : (f.oldestSeconds ?? 0))],
  ['switchboard_failed_rows', 'Rows given up with a reason (provider refusals, carrier failures), per integration.', (f) => f.failed],
  ['switchboard_integration_error', '1 while the integration\'s last pass ended in an error (rejected credentials, unreachable provider), else 0.', (f) => (f.error ? 1 : 0)],
];

/** The per-integration figures, read at scrape time by a function the server provides (at most every GAP_CACHE_MS). */
export function registerIntegrationGauges(read: () => Promise<IntegrationFigures[]>): void {
  // Every gauge, and every scrape within GAP_CACHE_MS, shares one read; a failed read is not kept.
  let cached: { at: number; figures: Promise<IntegrationFigures[]> } | null = null;
  const figures = () => {
    if (!cached || Date.now() - cached.at > GAP_CACHE_MS) {
      const reading = read();
      cached = { at: Date.now(), figures: reading };
      reading.catch(() => {
        if (cached?.figures === reading) cached = null;
      });
    }
    return cached.figures;
  };
  for (const [name, help, pick] of GAUGES) {
    // Re-registered per server (tests build several); the last one answers.
    metrics.removeSingleMetric(name);
    metrics.registerMetric(
      new Gauge({
        name,
        help,
        labelNames: ['integration_id', 'service'] as const,
        registers: [],
        async collect() {
          this.reset();
          for (const f of await figures()) {
            const value = pick(f);
            if (value !== null) this.set({ integration_id: String(f.integrationId), service: f.service }, value);
          }
        },
      }),
    );
  }
}
