/**
 * `ussd_request_v1`: a USSD service reached through any of the supported gateways
 * (ussd/gateways/: Africa's Talking, Nalo, Nsano, Hubtel, Arkesel, ...) at /v1/ussd/<gateway>/<opaque id>.
 * One row per hop: the raw body, the parsed request (`data`), the normalised turn, the
 * answer sent and its latency, keyed by a de-duplication key so a repeated hop is stored
 * once and answered identically. Menus come from a flow document (`--flow`, validated),
 * by default the helpline flow. Sessions live in `ussd_sessions`.
 */
import fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { defineReplicator } from '../engine/replicator.ts';
import { parseRegionFlag } from '../providers/phone.ts';
import { FlowError, parseFlow } from '../ussd/flow/engine.ts';
import { USSD_SERVICE, ussdRoutes } from '../ussd/route.ts';
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

const positiveInteger = (value: string) => {
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new Error('a positive whole number');
  return value;
};

export const ussdRequestV1 = defineReplicator({
  name: USSD_SERVICE,
  description: 'USSD requests',
  remoteKey: 'dedupe_key',
  columns: [
    { name: 'gateway', type: 'text' },
    { name: 'session_id', type: 'text' },
    { name: 'kind', type: 'text' },
    { name: 'turn', type: 'jsonb' },
    { name: 'raw_body', type: 'text' },
    { name: 'response_status', type: 'integer' },
    { name: 'response_content_type', type: 'text' },
    { name: 'response_body', type: 'text' },
    { name: 'latency_ms', type: 'real' },
  ],
  // A hop is written once; its answer is filled in after it is sent.
  updateWhere: 'false',
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
    { flag: 'service-code', target: { setting: 'service_code' }, description: "refuse callbacks for another service code (as the gateway sends it: AT serviceCode, Hubtel/Emergent/Cross-switch ServiceCode, Southpawsl ussdString)" },
    { flag: 'gateway-user-id', target: { setting: 'gateway_user_id' }, description: "refuse callbacks with another USERID/userID (Nalo, Arkesel; Emergent when it sends USERID)" },
    { flag: 'max-hops-per-minute', target: { setting: 'max_hops_per_minute' }, description: 'per caller, before answering 429 (default 60)', parse: positiveInteger },
    { flag: 'ip-allowlist', target: { setting: 'ip_allowlist' }, description: 'space-separated gateway IPs allowed to call (default any)' },
    {
      flag: 'region',
      target: { setting: 'region' },
      description: 'two-letter country for MSISDNs without a country code',
      parse: parseRegionFlag,
    },
  ],
  routes: ussdRoutes,
  webhookUrl: (integration, publicUrl) => `${publicUrl}/v1/ussd/<gateway>/${integration.opaque_id}`,
  setupInstructions: (integration, publicUrl) =>
    [
      "Give your USSD gateway the callback URL for it (the opaque id is the secret: USSD callbacks are unsigned):",
      ...GATEWAYS.map((g) => `  ${g.padEnd(15)} ${publicUrl}/v1/ussd/${g}/${integration.opaque_id}`),
      'Ask the gateway for its callback IPs and set them with --ip-allowlist.',
    ].join('\n'),
});
