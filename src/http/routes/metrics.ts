/**
 * `GET /metrics`: Prometheus text format (src/metrics.ts), with the convergence gap read at
 * scrape time; behind a bearer token when SWITCHBOARD_METRICS_TOKEN is set.
 */
import type { FastifyPluginAsync } from 'fastify';
import { convergenceGap } from '../../engine/convergence.ts';
import type { Engine } from '../../engine/ingest.ts';
import { metrics, registerPendingGauges } from '../../metrics.ts';
import { safeEqual } from '../../providers/safe-equal.ts';
import { sendError } from '../reply-error.ts';

export const metricsRoutes: FastifyPluginAsync<{ engine: Engine }> = async (app, { engine }) => {
  registerPendingGauges(async () => {
    const integrations = await engine.db.selectFrom('service_integrations').select(['id', 'service_name']).orderBy('id').execute();
    const gaps = [];
    for (const integration of integrations) {
      if (!engine.registry.has(integration.service_name)) continue;
      const replicator = engine.registry.get(integration.service_name);
      if (!replicator.pendingWhere) continue;
      const gap = await convergenceGap(engine.db, replicator, integration.id);
      gaps.push({ integrationId: integration.id, service: integration.service_name, pending: gap.pending ?? 0, oldestSeconds: gap.oldestPendingSeconds });
    }
    return gaps;
  });

  const token = engine.config.metricsToken;
  app.get('/metrics', async (request, reply) => {
    if (token && !safeEqual(request.headers.authorization ?? '', `Bearer ${token}`)) {
      return sendError(reply, 'SB_ERR_UNAUTHORIZED', 'metrics need `Authorization: Bearer <SWITCHBOARD_METRICS_TOKEN>`');
    }
    return reply.type(metrics.contentType).send(await metrics.metrics());
  });
};
