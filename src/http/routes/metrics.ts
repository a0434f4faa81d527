/**
 * `GET /metrics`: Prometheus text format (src/metrics.ts), with the per-integration figures
 * (convergence gap, failed rows, error state) read at scrape time; behind a bearer token when SWITCHBOARD_METRICS_TOKEN is set.
 */
import type { FastifyPluginAsync } from 'fastify';
import { convergenceGap } from '../../engine/convergence.ts';
import type { Engine } from '../../engine/engine.ts';
import { metrics, registerIntegrationGauges } from '../../metrics.ts';
import { safeEqual } from '../../providers/safe-equal.ts';
import { sendError } from '../reply-error.ts';

export const metricsRoutes: FastifyPluginAsync<{ engine: Engine }> = async (app, { engine }) => {
  registerIntegrationGauges(async () => {
    const integrations = await engine.db.selectFrom('service_integrations').select(['id', 'service_name', 'last_error_code']).orderBy('id').execute();
    const figures = [];
    for (const integration of integrations) {
      if (!engine.registry.has(integration.service_name)) continue;
      const gap = await convergenceGap(engine.db, engine.registry.get(integration.service_name), integration.id);
      figures.push({
        integrationId: integration.id,
        service: integration.service_name,
        pending: gap.pending,
        oldestSeconds: gap.oldestPendingSeconds,
        failed: gap.failed,
        error: integration.last_error_code !== null,
      });
    }
    return figures;
  });

  const token = engine.config.metricsToken;
  app.get('/metrics', async (request, reply) => {
    if (token && !safeEqual(request.headers.authorization ?? '', `Bearer ${token}`)) {
      return sendError(reply, 'SB_ERR_UNAUTHORIZED', 'metrics need `Authorization: Bearer <SWITCHBOARD_METRICS_TOKEN>`');
    }
    return reply.type(metrics.contentType).send(await metrics.metrics());
  });
};
