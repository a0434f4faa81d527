/**
 * `POST /v1/ussd/:gateway/:opaque_id`: a USSD gateway's callback (POST only: none of the
 * five needs GET, which would put callers' numbers in access logs' URLs). The callbacks are
 * unsigned, so the opaque id in the URL is the secret (plus an optional IP allowlist).
 * The gateway's adapter turns the request into a turn; hop.ts answers it in budget.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ServiceIntegration } from '../db/schema.ts';
import { invalidPayload, SwitchboardError } from '../engine/errors.ts';
import type { Engine } from '../engine/ingest.ts';
import { findByOpaqueId } from '../engine/integrations.ts';
import { toWebhookRequest } from '../http/webhook-request.ts';
import { adapterFor } from './gateways/index.ts';
import { handleHop } from './hop.ts';
import { ussdSettings } from './settings.ts';

export const USSD_SERVICE = 'ussd_request_v1';

function allowed(integration: ServiceIntegration, ip: string): boolean {
  const list = String(integration.settings.ip_allowlist ?? '').split(/[\s,]+/).filter(Boolean);
  return list.length === 0 || list.includes(ip) || list.includes(ip.replace(/^::ffff:/, ''));
}

export const ussdRoutes: FastifyPluginAsync<{ engine: Engine }> = async (app, { engine }) => {
  app.addHook('onRequest', async (request) => {
    request.webhookLog = { integrationId: null, reason: null };
  });

  app.route<{ Params: { gateway: string; opaque_id: string } }>({
    method: 'POST',
    url: '/v1/ussd/:gateway/:opaque_id',
    handler: async (request, reply) => {
      // The budget counts from the request's arrival, lookups included.
      const arrivedAt = performance.now() - reply.elapsedTime;
      const { gateway, opaque_id: opaqueId } = request.params;
      const integration = /^svi_[0-9a-z]{1,40}$/.test(opaqueId) ? await findByOpaqueId(engine.db, opaqueId) : undefined;
      if (!integration || integration.service_name !== USSD_SERVICE) throw new SwitchboardError('SB_ERR_NOT_FOUND', 'no USSD integration with that id');
      request.webhookLog!.integrationId = integration.id;
      const adapter = adapterFor(gateway);
      if (!adapter) throw new SwitchboardError('SB_ERR_NOT_FOUND', `unknown gateway "${gateway}"`);
      if (!allowed(integration, request.ip)) throw new SwitchboardError('SB_ERR_UNAUTHORIZED', 'caller not in this integration\'s IP allowlist');

      const webhook = toWebhookRequest(request, engine.config.publicUrl);
      const query = Object.fromEntries(Object.entries(request.query as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
      const region = typeof integration.settings.region === 'string' ? integration.settings.region : engine.config.defaultPhoneRegion;
      const turn = adapter.parse(
        { body: webhook.body, contentType: webhook.contentType, query, method: request.method },
        region,
      );
      if (!turn.msisdn) throw invalidPayload('no phone number in the request');
      const response = await handleHop({
        engine,
        integration,
        adapter,
        settings: ussdSettings(integration, adapter, engine.config),
        turn,
        rawBody: webhook.rawBody.toString('utf8'),
        url: `${engine.config.publicUrl}${request.url.split('?')[0]}`,
        arrivedAt,
      });
      return reply.code(response.status).type(response.contentType).send(response.body);
    },
  });
};
