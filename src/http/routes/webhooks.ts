/**
 * The generic webhook route, `POST /v1/service_integrations/:opaque_id`:
 * find the integration (404) → parse the body (400/415) → verify it with the
 * replicator (401) → turn it into rows (422) → upsert them and tell dependents, in one
 * transaction → answer with the replicator's response (default 202 {"o":"k"}).
 * Rows are committed before we answer, so a 2xx means the payload is stored.
 */
import type { FastifyPluginAsync } from 'fastify';
import { SwitchboardError } from '../../engine/errors.ts';
import { ingestRows, type Engine } from '../../engine/ingest.ts';
import { findByOpaqueId } from '../../engine/integrations.ts';
import { toWebhookRequest } from '../webhook-request.ts';

const ACCEPTED = { status: 202, contentType: 'application/json', body: '{"o":"k"}' };

export const webhookRoutes: FastifyPluginAsync<{ engine: Engine }> = async (app, { engine }) => {
  // Before body parsing, so requests refused while parsing (too large...) are logged too.
  app.addHook('onRequest', async (request) => {
    request.webhookLog = { integrationId: null, reason: null };
  });

  app.post<{ Params: { opaque_id: string } }>('/v1/service_integrations/:opaque_id', async (request, reply) => {
    request.webhookLog ??= { integrationId: null, reason: null };
    const opaqueId = request.params.opaque_id;
    const integration = /^svi_[0-9a-z]{1,40}$/.test(opaqueId) ? await findByOpaqueId(engine.db, opaqueId) : undefined;
    if (!integration || !engine.registry.has(integration.service_name)) {
      throw new SwitchboardError('SB_ERR_NOT_FOUND', 'no integration with that id');
    }
    request.webhookLog.integrationId = integration.id;
    const replicator = engine.registry.get(integration.service_name);
    if (!replicator.verifyWebhook || !replicator.toRows) {
      throw new SwitchboardError('SB_ERR_METHOD_NOT_ALLOWED', `${replicator.name} does not accept webhooks`);
    }
    const webhook = toWebhookRequest(request, engine.config.publicUrl);
    const verification = await replicator.verifyWebhook(webhook, integration);
    if (!verification.ok) throw new SwitchboardError('SB_ERR_UNAUTHORIZED', verification.reason);
    request.webhookLog.authenticated = true;
    const rows = replicator.toRows(webhook.body, { integration, config: engine.config, request: webhook });
    const upserted = await ingestRows(engine, integration, rows, { origin: 'webhook' });
    const response = replicator.webhookResponse?.(upserted, webhook) ?? ACCEPTED;
    return reply.code(response.status).type(response.contentType).send(response.body);
  });
};
