/** `GET /metrics`: Prometheus text format (src/metrics.ts), with the convergence gap read at scrape time. */
import type { FastifyPluginAsync } from 'fastify';
import { convergenceGap } from '../../engine/convergence.ts';
import type { Engine } from '../../engine/ingest.ts';
import { metrics, registerPendingGauges } from '../../metrics.ts';

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

  app.get('/metrics', async (_request, reply) => reply.type(metrics.contentType).send(await metrics.metrics()));
};
