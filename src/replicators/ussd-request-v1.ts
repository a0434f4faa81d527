/**
 * `ussd_request_v1`: a USSD service reached through any of the supported gateways
 * (Africa's Talking, Nalo, Nsano, Hubtel, Arkesel) at /v1/ussd/<gateway>/<opaque id>.
 * One row per request, committed on arrival under a request id: the raw body, the parsed
 * request (`data`), the normalised turn; then, once processed, its de-duplication key (a
 * repeated hop points at the first with `replay_of` and is answered identically), the
 * answer sent and its latency. Unprocessed rows are pending; the pass retries them. Menus come from a flow document (`--flow`, validated),
 * by default the helpline flow. Sessions live in `ussd_sessions`.
 */
import fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { defineReplicator } from '../engine/replicator.ts';
import { parseRegionFlag } from '../providers/phone.ts';
import { FlowError, parseFlow } from '../ussd/flow/engine.ts';
import { retryPendingHops } from '../ussd/hop.ts';
import { USSD_SERVICE, ussdRoutes } from '../ussd/route.ts';
import { allowlistOf, parseAllowlist } from '../ussd/allowlist.ts';
import { GATEWAYS } from '../ussd/types.ts';

/** A flow file (JSON, or YAML by its extension), validated, stored as JSON. */
function readFlow(file: string): string {
  let document: unknown;
  try {
    const text = fs.readFileSync(file, 'utf8');
    document = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    throw new Error(`cannot read flow ${file}: ${(error as Error).message}`);
  }
  try {
    parseFlow(document);
  } catch (error) {
    if (error instanceof FlowError) throw new Error(`invalid flow ${file}: ${error.message}`);
    throw error;
  }
  return JSON.stringify(document);
}

const UNAUTHENTICATED = 'unauthenticated';
const UNAUTHENTICATED_EFFECT = 'anyone with the URL could pose as a caller, so replies are not shown over USSD and SMS consent is not recorded';
const ADDRESSES_GUIDE = "where each gateway publishes its addresses: docs/guides/ussd-helpline.md, \"Gateways' addresses\"";

const positiveInteger = (value: string) => {
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new Error('a positive whole number');
  return value;
};

export const ussdRequestV1 = defineReplicator({
  name: USSD_SERVICE,
  description: 'USSD requests',
  remoteKey: 'request_id',
  columns: [
    { name: 'dedupe_key', type: 'text' },
    { name: 'gateway', type: 'text' },
    { name: 'session_id', type: 'text' },
    { name: 'kind', type: 'text' },
    { name: 'turn', type: 'jsonb' },
    { name: 'raw_body', type: 'text' },
    { name: 'response_status', type: 'integer' },
    { name: 'response_content_type', type: 'text' },
    { name: 'response_body', type: 'text' },
    { name: 'latency_ms', type: 'real' },
    { name: 'processed_at', type: 'timestamptz' },
    { name: 'attempts', type: 'integer' },
    { name: 'last_error', type: 'text' },
    { name: 'failed_at', type: 'timestamptz' },
    { name: 'replay_of', type: 'bigint' },
  ],
  // A request is written once, on arrival; processing fills in the rest (src/ussd/hop.ts).
  updateWhere: 'false',
  pendingWhere: 'processed_at IS NULL AND failed_at IS NULL',
  failedWhere: 'failed_at IS NOT NULL',
  failedReason: `'not processed after ' || attempts || ' attempts: ' || coalesce(last_error, '?')`,
  // A hop whose processing failed (or whose process died) is retried by the next pass, polls included.
  backfillers: (integration) => [{ name: 'pending hops', run: async (ctx) => void (await retryPendingHops(ctx.engine, integration)) }],
  polls: true,
  resetClears: [],
  fields: [
    { flag: 'flow', target: { setting: 'flow' }, description: 'a flow document (JSON or YAML) defining the menus', parse: readFlow },
    { flag: 'flow-name', target: { setting: 'flow_name' }, description: 'the flow boundary of session ids (default helpline)' },
    { flag: 'page-budget', target: { setting: 'page_budget' }, description: 'GSM-7 septets per screen (default per gateway: 160, Nalo 120)', parse: positiveInteger },
    { flag: 'budget-ms', target: { setting: 'budget_ms' }, description: 'answer within this many ms (default SWITCHBOARD_USSD_BUDGET_MS)', parse: positiveInteger },
    {
      flag: 'durable-sessions',
      target: { setting: 'durable_sessions' },
      description: 'true: key sessions on the caller instead of the gateway session (flow_chat durable sessions)',
      parse: (value) => {
        if (value !== 'true' && value !== 'false') throw new Error('true or false');
        return value;
      },
    },
    {
      flag: 'session-boundaries',
      target: { setting: 'session_boundaries' },
      description: 'comma-separated: flow, platform, gateway, url (default flow,platform,gateway)',
      parse: (value) => {
        const parts = value.split(',').map((p) => p.trim());
        const unknown = parts.filter((p) => !['flow', 'platform', 'gateway', 'url'].includes(p));
        if (unknown.length > 0) throw new Error(`unknown boundary ${unknown.join(', ')}`);
        return parts.join(',');
      },
    },
    { flag: 'channel', target: { setting: 'channel' }, description: 'the front_ussd_channel_app_v1 integration (id or opaque id) that gets typed messages; default: the only one' },
    { flag: 'service-code', target: { setting: 'service_code' }, description: "refuse callbacks for another service code (Africa's Talking, Hubtel)" },
    { flag: 'gateway-user-id', target: { setting: 'gateway_user_id' }, description: "refuse callbacks with another USERID/userID (Nalo, Arkesel)" },
    {
      flag: 'gateway',
      target: { setting: 'gateway' },
      description: `the one gateway allowed to call (${GATEWAYS.join(', ')}); default any`,
      parse: (value) => {
        if (!(GATEWAYS as readonly string[]).includes(value)) throw new Error(`one of ${GATEWAYS.join(', ')}`);
        return value;
      },
    },
    { flag: 'max-hops-per-minute', target: { setting: 'max_hops_per_minute' }, description: 'per caller, before answering 429 (default 60)', parse: positiveInteger },
    {
      flag: 'max-hops-per-address-per-minute',
      target: { setting: 'max_hops_per_address_per_minute' },
      description: "per source address, before answering 429 (default 600; a gateway's address carries all its callers)",
      parse: positiveInteger,
    },
    {
      flag: 'ip-allowlist',
      target: { setting: 'ip_allowlist' },
      description: "the gateway's addresses or CIDR ranges (IPv4, IPv6), space-separated; without it the service is unauthenticated: no replies shown over USSD, no SMS consent recorded",
      parse: parseAllowlist,
    },
    {
      flag: 'region',
      target: { setting: 'region' },
      description: 'two-letter country for MSISDNs without a country code',
      parse: parseRegionFlag,
    },
  ],
  routes: ussdRoutes,
  webhookUrl: (integration, publicUrl) => `${publicUrl}/v1/ussd/<gateway>/${integration.opaque_id}`,
  setupState: (integration) =>
    allowlistOf(integration.settings.ip_allowlist)
      ? { ready: true, detail: 'authenticated: callers limited to the IP allowlist' }
      : { ready: false, state: UNAUTHENTICATED, detail: `${UNAUTHENTICATED}: ${UNAUTHENTICATED_EFFECT}; set --ip-allowlist (${ADDRESSES_GUIDE})` },
  async doctor(integration) {
    return [
      allowlistOf(integration.settings.ip_allowlist)
        ? { check: 'authentication', status: 'ok', detail: `callers limited to ${String(integration.settings.ip_allowlist)}` }
        : {
            check: 'authentication',
            status: 'warn',
            detail: `${UNAUTHENTICATED}: ${UNAUTHENTICATED_EFFECT}. Set \`switchboard integrations update ${integration.id} --ip-allowlist "<addresses or CIDR ranges>"\` with your gateway's published addresses (${ADDRESSES_GUIDE}); a refused request's address is in webhook_log.source_address`,
          },
    ];
  },
  setupInstructions: (integration, publicUrl) => {
    const gateways = typeof integration.settings.gateway === 'string' ? [integration.settings.gateway] : GATEWAYS;
    return [
      allowlistOf(integration.settings.ip_allowlist)
        ? `State: authenticated (callers limited to ${String(integration.settings.ip_allowlist)}).`
        : `State: ${UNAUTHENTICATED} — ${UNAUTHENTICATED_EFFECT}. Set --ip-allowlist with your gateway's addresses (${ADDRESSES_GUIDE}).`,
      'Give your USSD gateway the callback URL for it (keep it secret: USSD callbacks are unsigned):',
      ...gateways.map((g) => `  ${g.padEnd(15)} ${publicUrl}/v1/ussd/${g}/${integration.opaque_id}`),
    ].join('\n');
  },
});
