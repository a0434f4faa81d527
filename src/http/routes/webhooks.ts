/**
 * The generic webhook route, `POST /v1/service_integrations/:opaque_id`:
 * find the integration (404) → parse the body (400/415) → verify it with the
 * replicator (401) → turn it into rows (422) → upsert them and tell dependents, in one
 * transaction shared with the integration's concurrent webhooks (group-commit.ts) →
 * answer with the replicator's response (default 202 {"o":"k"}).
 * Rows are committed before we answer, so a 2xx means the payload is stored.
 * `GET` on the same URL is the subscription handshake of providers that prove the URL
 * first (Meta's hub.challenge), for replicators with `verifySubscription`; it stores nothing.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { SwitchboardError } from '../../engine/errors.ts';
import { commitWebhookRows } from '../../engine/group-commit.ts';
import type { Engine } from '../../engine/engine.ts';
import { integrationByOpaqueId } from '../../engine/integration-cache.ts';
import { toWebhookRequest } from '../webhook-request.ts';

const ACCEPTED = { status: 202, contentType: 'application/json', body: '{"o":"k"}' };

export const webhookRoutes: FastifyPluginAsync<{ engine: Engine }> = async (app, { engine }) => {
  // Before body parsing, so requests refused while parsing (too large...) are logged too.
  app.addHook('onRequest', async (request) => {
    request.webhookLog = { integrationId: null, reason: null };
  });

  /** The integration an opaque id names, and its replicator (404 otherwise). */
  async function target(request: FastifyRequest<{ Params: { opaque_id: string } }>) {
    const log = (request.webhookLog ??= { integrationId: null, reason: null });
    const opaqueId = request.params.opaque_id;
    const integration = /^svi_[0-9a-z]{1,40}$/.test(opaqueId) ? await integrationByOpaqueId(engine, opaqueId) : undefined;
    if (!integration || !engine.registry.has(integration.service_name)) {
      throw new SwitchboardError('SB_ERR_NOT_FOUND', 'no integration with that id');
    }
    log.integrationId = integration.id;
    return { integration, log, replicator: engine.registry.get(integration.service_name) };
  }

  app.get<{ Params: { opaque_id: string }; Querystring: Record<string, unknown> }>('/v1/service_integrations/:opaque_id', async (request, reply) => {
    const { integration, log, replicator } = await target(request);
    if (!replicator.verifySubscription) {
      throw new SwitchboardError('SB_ERR_METHOD_NOT_ALLOWED', `${replicator.name} has no subscription handshake; webhooks are POSTed`);
    }
    // A repeated parameter is ambiguous: take none of it rather than guess.
    const query = Object.fromEntries(Object.entries(request.query).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
    const check = replicator.verifySubscription(query, integration);
    if (!check.ok) throw new SwitchboardError('SB_ERR_FORBIDDEN', check.reason);
    log.authenticated = true;
    return reply.code(200).type('text/plain; charset=utf-8').send(check.body);
  });

  app.post<{ Params: { opaque_id: string } }>('/v1/service_integrations/:opaque_id', async (request, reply) => {
    const { integration, log, replicator } = await target(request);
    if (!replicator.verifyWebhook || !replicator.toRows) {
      throw new SwitchboardError('SB_ERR_METHOD_NOT_ALLOWED', `${replicator.name} does not accept webhooks`);
    }
    const webhook = toWebhookRequest(request, engine.config.publicUrl);
    const verification = await replicator.verifyWebhook(webhook, integration);
    if (!verification.ok) throw new SwitchboardError('SB_ERR_UNAUTHORIZED', verification.reason);
    log.authenticated = true;
    const rows = replicator.toRows(webhook.body, { integration, config: engine.config, request: webhook });
    const upserted = await commitWebhookRows(engine, integration, rows);
    const response = replicator.webhookResponse?.(upserted, webhook) ?? ACCEPTED;
    return reply.code(response.status).type(response.contentType).send(response.body);
  });
};
