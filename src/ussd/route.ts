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
import { stripNul } from '../engine/upsert.ts';
import { toWebhookRequest } from '../http/webhook-request.ts';
import { adapterFor } from './gateways/index.ts';
import type { UssdTurn } from './types.ts';
import { handleHop } from './hop.ts';
import { ussdSettings } from './settings.ts';

export const USSD_SERVICE = 'ussd_request_v1';
const DEFAULT_MAX_HOPS_PER_MINUTE = 60;

function allowed(integration: ServiceIntegration, ip: string): boolean {
  const list = String(integration.settings.ip_allowlist ?? '').split(/[\s,]+/).filter(Boolean);
  return list.length === 0 || list.includes(ip) || list.includes(ip.replace(/^::ffff:/, ''));
}

/** The gateway's constant fields, when the integration pins them (reference §8.5): a forged call rarely knows them. */
function constantsMatch(integration: ServiceIntegration, turn: UssdTurn): boolean {
  const code = integration.settings.service_code;
  if (typeof code === 'string' && code && turn.serviceCode !== null && turn.serviceCode !== code) return false;
  const userId = integration.settings.gateway_user_id;
  const given = turn.raw.USERID ?? turn.raw.userID;
  return !(typeof userId === 'string' && userId && given !== undefined && String(given) !== userId);
}

/** Hops per caller per minute, per process: one caller must not flood the helpline (or Front). */
const recentHops = new Map<string, number[]>();
function overLimit(integration: ServiceIntegration, msisdn: string): boolean {
  const limit = Number(integration.settings.max_hops_per_minute ?? DEFAULT_MAX_HOPS_PER_MINUTE);
  const key = `${integration.id}:${msisdn}`;
  const now = Date.now();
  const hops = (recentHops.get(key) ?? []).filter((at) => now - at < 60_000);
  hops.push(now);
  recentHops.set(key, hops);
  // Forget callers gone quiet, so the map stays small.
  if (recentHops.size > 10_000) for (const [k, v] of recentHops) if (now - (v.at(-1) ?? 0) > 60_000) recentHops.delete(k);
  return hops.length > limit;
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
      // Postgres stores no NUL and no lone surrogate: cleaned here, as every upsert does, so the typed text survives.
      const turn = stripNul(adapter.parse({ body: webhook.body, contentType: webhook.contentType, query, method: request.method }, region)) as UssdTurn;
      if (!turn.msisdn) throw invalidPayload('no phone number in the request');
      if (!constantsMatch(integration, turn)) throw new SwitchboardError('SB_ERR_UNAUTHORIZED', "the request's service code or gateway user id is not this integration's");
      if (overLimit(integration, turn.msisdn)) throw new SwitchboardError('SB_ERR_RATE_LIMITED', 'too many requests from this caller; try again in a minute');
      const response = await handleHop({
        engine,
        integration,
        adapter,
        settings: ussdSettings(integration, adapter, engine.config),
        turn,
        rawBody: stripNul(webhook.rawBody.toString('utf8')) as string,
        url: `${engine.config.publicUrl}${request.url.split('?')[0]}`,
        arrivedAt,
      });
      return reply.code(response.status).type(response.contentType).send(response.body);
    },
  });
};
