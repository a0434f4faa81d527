/**
 * Builds the HTTP server (without listening, so tests can use it either way):
 * raw-body parsing for every content type, so webhook signatures are checked on the
 * exact bytes; one error shape, `{error: {code, message}}`, with 4xx for bad input and
 * 503 while the database is down; one log line per request, without bodies or URLs
 * that carry integration secrets.
 */
import Fastify, {
  LogController, type FastifyPluginAsync, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import { isDatabaseUnavailable, isSwitchboardError, type ErrorCode } from '../engine/errors.ts';
import type { Engine } from '../engine/engine.ts';
import { httpDuration, httpRequests } from '../metrics.ts';
import { sendError } from './reply-error.ts';
import { healthRoutes } from './routes/health.ts';
import { mediaRoutes } from './routes/media.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import { WebhookLogWriter } from './webhook-log.ts';
import { dashboardRoutes } from '../web/routes.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Set by webhook routes: what the webhook log records for this request. `authenticated`
     * once the sender proved who it is; until then (and unless answered 2xx) the log keeps
     * only a prefix of the body and no headers. `sourceAddress`: set by routes whose senders
     * are known by address (USSD gateways), to be stored.
     */
    webhookLog?: { integrationId: number | null; reason: string | null; authenticated?: boolean; sourceAddress?: string };
  }
}

export interface AppOptions {
  engine: Engine;
  config: Pick<Config, 'bodyLimit'> & Partial<Pick<Config, 'trustProxy'>>;
  /** Demo mode: the simulator pages' API, served under /api/v1/demo and shown by the dashboard. */
  demoRoutes?: FastifyPluginAsync;
}

/** Fastify's own client errors, by code, onto our catalogue. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'SB_ERR_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'SB_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'SB_ERR_BAD_REQUEST',
};

function classify(error: FastifyError | Error, request: FastifyRequest): { code: ErrorCode; message: string } {
  if (isSwitchboardError(error)) return { code: error.code, message: error.message };
  if (isDatabaseUnavailable(error)) return { code: 'SB_ERR_DATABASE_UNAVAILABLE', message: 'database unavailable; retry later' };
  // Input Postgres refuses as text (NUL bytes, bad encoding, malformed values): the sender's error.
  if (['22021', '22P02', '22P05', '54000'].includes(String((error as { code?: unknown }).code))) {
    return { code: 'SB_ERR_BAD_REQUEST', message: 'the request contains characters or values that cannot be stored' };
  }
  const status = (error as FastifyError).statusCode;
  if (status && status >= 400 && status < 500) {
    const code = FASTIFY_CODES[(error as FastifyError).code] ?? (status === 404 ? 'SB_ERR_NOT_FOUND' : 'SB_ERR_BAD_REQUEST');
    return { code, message: error.message };
  }
  request.log.error({ err: error }, 'unhandled error');
  return { code: 'SB_ERR_INTERNAL', message: `internal error (request ${request.id})` };
}

/**
 * Fastify trusts nothing for a bare hop count (a direct client could send enough hops); a
 * count here means the proxies are the only way in (docs/operations.md), so the address is
 * the one the n-th proxy saw. Hop 0 is the socket's peer.
 */
const proxyTrust = (trust: Config['trustProxy']) => (typeof trust === 'number' ? (_address: string, hop: number) => hop < trust : trust);

export async function buildApp({ engine, config, demoRoutes }: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: engine.log.child({ component: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimit,
    // Providers retry on timeouts; a request stuck longer than this is better failed.
    requestTimeout: 30_000,
    return503OnClosing: true,
    trustProxy: proxyTrust(config.trustProxy ?? false),
  });
  // A client may hold only so many sockets; Node closes connections past the cap at once.
  app.server.maxConnections = engine.config.maxConnections;
  // On close, Fastify ends idle keep-alive connections once; a request still in flight then
  // leaves its connection open for the whole keep-alive timeout (72 s), holding up shutdown.
  // From close on, every response closes its connection.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) reply.header('connection', 'close');
    return payload;
  });
  // Node enforces requestTimeout only every 30 s and a body trickled in can outlast it: cut
  // a body still arriving after the deadline, answering 408 and closing the connection.
  app.addHook('onRequest', async (request, reply) => {
    if (request.raw.complete) return;
    const timer = setTimeout(() => {
      if (request.raw.complete || reply.sent) return;
      request.log.info({ route: request.routeOptions.url }, 'request body too slow: connection closed');
      sendError(reply.header('connection', 'close'), 'SB_ERR_REQUEST_TIMEOUT', `the body did not arrive within ${engine.config.bodyTimeoutMs} ms`);
    }, engine.config.bodyTimeoutMs);
    timer.unref();
    request.raw.once('close', () => clearTimeout(timer));
    reply.raw.once('finish', () => clearTimeout(timer));
  });

  const webhookLog = new WebhookLogWriter(engine.db, engine.log, { maxMb: engine.config.webhookLogMaxMb });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const { code, message } = classify(error, request);
    if (request.webhookLog) request.webhookLog.reason ??= message;
    return sendError(reply, code, message);
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, 'SB_ERR_NOT_FOUND', `no route for ${request.method} ${request.url.split('?')[0]}`));

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? '(unmatched)';
    httpRequests.inc({ route, method: request.method, status: String(reply.statusCode) });
    httpDuration.observe({ route }, reply.elapsedTime / 1000);
    const entry = request.webhookLog;
    request.log.info(
      { method: request.method, route, status: reply.statusCode, ms: Math.round(reply.elapsedTime), integration_id: entry?.integrationId ?? undefined },
      'request',
    );
    if (!entry) return;
    webhookLog.add({
      integrationId: entry.integrationId,
      route,
      method: request.method,
      status: reply.statusCode,
      reason: entry.reason,
      sourceAddress: entry.sourceAddress ?? null,
      durationMs: reply.elapsedTime,
      contentType: request.headers['content-type'] ?? null,
      headers: Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)])),
      body: Buffer.isBuffer(request.body) ? request.body : null,
      trusted: entry.authenticated === true || (reply.statusCode >= 200 && reply.statusCode < 300),
      source: request.ip,
    });
  });
  app.addHook('onClose', async () => webhookLog.flush());

  await app.register(healthRoutes, { engine });
  await app.register(webhookRoutes, { engine });
  await app.register(mediaRoutes, { engine });
  // With a metrics listener of its own (buildMetricsApp), the public one does not serve them.
  if (engine.config.metrics.port === undefined) await app.register(metricsRoutes, { engine });
  await app.register(dashboardRoutes, { engine, demo: Boolean(demoRoutes) });
  if (demoRoutes) await app.register(demoRoutes, { prefix: '/api/v1/demo' });
  for (const replicator of engine.registry.list()) {
    if (replicator.routes) await app.register(replicator.routes, { engine });
  }
  return app;
}

/** The listener of SWITCHBOARD_METRICS_PORT (127.0.0.1 unless SWITCHBOARD_METRICS_HOST): /metrics alone. */
export async function buildMetricsApp(engine: Engine): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: engine.log.child({ component: 'metrics' }) as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }) });
  app.setNotFoundHandler((request, reply) => sendError(reply, 'SB_ERR_NOT_FOUND', `no route for ${request.method} ${request.url.split('?')[0]}; this listener serves /metrics`));
  await app.register(metricsRoutes, { engine });
  return app;
}
