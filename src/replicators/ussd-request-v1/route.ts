/**
 * `POST /v1/ussd/:gateway/:opaque_id`: a USSD gateway's callback (POST only: none of the
 * five needs GET, which would put callers' numbers in access logs' URLs). The callbacks are
 * unsigned: the opaque id in the URL is a secret, but only an IP allowlist proves a request
 * comes from the gateway — without one the service is unauthenticated and fails closed
 * (settings.ts, hop.ts). Also checked: the integration's gateway, pinned fields, hop
 * limits per caller and per source address. The adapter turns the request into a turn;
 * hop.ts answers it in budget.
 */
import type { FastifyPluginAsync } from 'fastify';
import { sql, type Kysely } from 'kysely';
import type { Database, ServiceIntegration } from '../../db/schema.ts';
import { invalidPayload, SwitchboardError } from '../../engine/errors.ts';
import type { Engine } from '../../engine/engine.ts';
import { findByOpaqueId } from '../../engine/integrations.ts';
import { stripNul } from '../../engine/upsert.ts';
import { toWebhookRequest } from '../../http/webhook-request.ts';
import { allowlistOf, isAllowed } from '../../ussd/allowlist.ts';
import { adapterFor } from '../../ussd/gateways/index.ts';
import type { UssdTurn } from '../../ussd/types.ts';
import { handleHop } from './hop.ts';
import { hashIdentifier, hashKeyOf } from './sessions.ts';
import { storedSettings, ussdSettings, type StoredSettings } from './settings.ts';

export const USSD_SERVICE = 'ussd_request_v1';
const DEFAULT_MAX_HOPS_PER_MINUTE = 60;
const DEFAULT_MAX_HOPS_PER_ADDRESS_PER_MINUTE = 600;

/**
 * The gateway's constant fields, when the integration pins them (docs/ussd-gateways.md, "Authentication"): once
 * pinned, every request must carry them — a request without one is refused, not waved
 * through (a gateway that sends no service code cannot serve a service that pins one).
 */
function pinnedFieldsMissing(settings: StoredSettings, turn: UssdTurn): string | null {
  if (settings.service_code && turn.serviceCode !== settings.service_code) return 'service code';
  const given = turn.raw.USERID ?? turn.raw.userID;
  if (settings.gateway_user_id && (given === undefined || String(given) !== settings.gateway_user_id)) return 'gateway user id';
  return null;
}

/**
 * Hops in the last minute per caller and per source address, counted in Postgres so that
 * every web process shares one count. One caller must not flood the helpline (or Front),
 * nor one address pose as many callers. The caller is counted by keyed hash, never by number.
 */
async function overLimit(db: Kysely<Database>, integration: ServiceIntegration, callerHash: string, address: string): Promise<boolean> {
  const settings = storedSettings(integration);
  const limits = {
    [`address:${address}`]: settings.max_hops_per_address_per_minute ?? DEFAULT_MAX_HOPS_PER_ADDRESS_PER_MINUTE,
    [`caller:${callerHash}`]: settings.max_hops_per_minute ?? DEFAULT_MAX_HOPS_PER_MINUTE,
  };
  // Keys in a fixed order: two concurrent hops never lock the same two rows crosswise.
  const keys = Object.keys(limits).sort();
  const { rows } = await sql<{ key: string; hops: number }>`
    INSERT INTO ussd_hop_counts AS c (integration_id, key, window_start, hops)
    SELECT ${integration.id}, key, now(), 1 FROM unnest(${keys}::text[]) AS key
    ON CONFLICT (integration_id, key) DO UPDATE SET
      hops = CASE WHEN c.window_start > now() - interval '1 minute' THEN c.hops + 1 ELSE 1 END,
      window_start = CASE WHEN c.window_start > now() - interval '1 minute' THEN c.window_start ELSE now() END
    RETURNING key, hops`.execute(db);
  return rows.some((row) => row.hops > (limits[row.key] ?? Infinity));
}

/** Nesting no gateway sends; deeper JSON is refused before anything walks it recursively. */
const MAX_JSON_DEPTH = 32;

function tooDeep(value: unknown): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [node, depth] = item;
    if (typeof node !== 'object' || node === null) continue;
    if (depth >= MAX_JSON_DEPTH) return true;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return false;
}

export const ussdRoutes: FastifyPluginAsync<{ engine: Engine }> = async (app, { engine }) => {
  app.addHook('onRequest', async (request) => {
    // The address too: an operator learns a gateway's address from the requests it refused.
    request.webhookLog = { integrationId: null, reason: null, sourceAddress: request.ip };
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
      const settings = storedSettings(integration);
      const allowlist = allowlistOf(settings.ip_allowlist);
      if (allowlist && !isAllowed(allowlist, request.ip)) throw new SwitchboardError('SB_ERR_UNAUTHORIZED', "caller not in this integration's IP allowlist");
      const own = settings.gateway;
      if (own && own !== gateway) throw new SwitchboardError('SB_ERR_UNAUTHORIZED', `this integration's gateway is ${own}, not ${gateway}`);

      const webhook = toWebhookRequest(request, engine.config.publicUrl);
      if (tooDeep(webhook.body)) throw new SwitchboardError('SB_ERR_BAD_REQUEST', `JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
      const query = Object.fromEntries(Object.entries(request.query as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
      const region = settings.region ?? engine.config.defaultPhoneRegion;
      // Postgres stores no NUL and no lone surrogate: cleaned here, as every upsert does, so the typed text survives.
      const turn = stripNul(adapter.parse({ body: webhook.body, contentType: webhook.contentType, query, method: request.method }, region)) as UssdTurn;
      if (!turn.msisdn) throw invalidPayload('no phone number in the request');
      const missing = pinnedFieldsMissing(settings, turn);
      if (missing) throw new SwitchboardError('SB_ERR_UNAUTHORIZED', `the request's ${missing} is missing or not this integration's`);
      const callerHash = hashIdentifier(await hashKeyOf(engine.db, integration), turn.msisdn);
      if (await overLimit(engine.db, integration, callerHash, request.ip)) throw new SwitchboardError('SB_ERR_RATE_LIMITED', 'too many requests from this caller or address; try again in a minute');
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
