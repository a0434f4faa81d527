/**
 * A USSD integration's settings: the CLI fields that set them, the zod schema that reads
 * them back (a stored value that no longer passes is ignored, so the default applies — for
 * the allowlist that means unauthenticated, failing closed), and what a hop needs with
 * defaults filled in: whether callers are authenticated (an IP allowlist), the flow (the
 * helpline flow unless `--flow` gave one; parsed once per version of the settings), the
 * page budget in GSM-7 septets (the gateway's default), the response budget, sessions.
 */
import { z } from 'zod';
import type { Config } from '../../config.ts';
import type { ServiceIntegration } from '../../db/schema.ts';
import type { FieldSpec } from '../../engine/replicator.ts';
import { parseRegionFlag } from '../../providers/phone.ts';
import { allowlistOf, parseAllowlist } from '../../ussd/allowlist.ts';
import { parseFlow, type Flow } from '../../ussd/flow/engine.ts';
import { readFlowFile } from '../../ussd/flow/file.ts';
import { HELPLINE_FLOW, HELPLINE_FLOW_WITHOUT_REPLIES } from '../../ussd/flow/helpline.ts';
import { GATEWAYS, type GatewayAdapter } from '../../ussd/types.ts';
import { BOUNDARIES, DEFAULT_BOUNDARIES, type Boundary } from './sessions.ts';

const positiveInteger = (value: string) => {
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new Error('a positive whole number');
  return value;
};

export const USSD_FIELDS: readonly FieldSpec[] = [
    { flag: 'flow', target: { setting: 'flow' }, description: 'a flow document (JSON or YAML) defining the menus', parse: readFlowFile },
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
        const unknown = parts.filter((p) => !(BOUNDARIES as readonly string[]).includes(p));
        if (unknown.length > 0) throw new Error(`unknown boundary ${unknown.join(', ')}`);
        return parts.join(',');
      },
    },
    { flag: 'channel', target: { setting: 'channel' }, description: 'the front_ussd_channel_app_v1 integration (id or opaque id) that gets typed messages; at create, default: the only one (several: required)' },
    { flag: 'service-code', target: { setting: 'service_code' }, description: "refuse callbacks for another service code, or without one (as the gateway sends it: AT serviceCode, Hubtel/Emergent/Cross-switch ServiceCode, Southpawsl ussdString)" },
    { flag: 'gateway-user-id', target: { setting: 'gateway_user_id' }, description: "refuse callbacks with another USERID/userID, or without one (Nalo, Arkesel; Emergent when it sends USERID)" },
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
];

/** Stored settings are strings (CLI flags); each reads back as its type, or as absent when it does not parse. */
const text = z.string().min(1).optional().catch(undefined);
const positive = z.coerce.number().int().positive().optional().catch(undefined);

const storedSchema = z.object({
  flow: text,
  flow_name: text,
  page_budget: positive,
  ...Object.fromEntries(GATEWAYS.map((gateway) => [`page_budget_${gateway}`, positive])),
  budget_ms: positive,
  durable_sessions: z.enum(['true', 'false']).optional().catch(undefined),
  session_boundaries: z
    .string()
    .transform((value) => value.split(',').map((part) => part.trim()))
    .pipe(z.array(z.enum(BOUNDARIES)))
    .optional()
    .catch(undefined),
  channel: text,
  service_code: text,
  gateway_user_id: text,
  gateway: z.enum(GATEWAYS).optional().catch(undefined),
  max_hops_per_minute: positive,
  max_hops_per_address_per_minute: positive,
  ip_allowlist: text,
  region: text,
});

export type StoredSettings = z.infer<typeof storedSchema> & Partial<Record<`page_budget_${string}`, number>>;

const parsed = new Map<string, { settings: StoredSettings; flow: Flow | null }>();

/** The integration's settings as stored, typed; parsed once per version of the settings. */
function read(integration: ServiceIntegration): { settings: StoredSettings; flow: Flow | null } {
  const cacheKey = JSON.stringify(integration.settings);
  let entry = parsed.get(cacheKey);
  if (!entry) {
    // Versions replaced long ago are not worth keeping.
    if (parsed.size >= 100) parsed.clear();
    const settings = storedSchema.parse(integration.settings) as StoredSettings;
    entry = { settings, flow: settings.flow ? parseFlow(JSON.parse(settings.flow)) : null };
    parsed.set(cacheKey, entry);
  }
  return entry;
}

export const storedSettings = (integration: ServiceIntegration): StoredSettings => read(integration).settings;

export interface UssdSettings {
  /**
   * Requests are known to come from the gateway (an IP allowlist). Without it anyone with
   * the URL can pose as any caller, so no reply is shown and no SMS consent is recorded.
   */
  authenticated: boolean;
  flow: Flow;
  flowName: string;
  pageBudget: number;
  budgetMs: number;
  identifier: 'session' | 'msisdn';
  boundaries: readonly Boundary[];
}

export function ussdSettings(integration: ServiceIntegration, adapter: GatewayAdapter, config: Config): UssdSettings {
  const { settings: s, flow } = read(integration);
  // Stored entries were checked by the field: the allowlist is in force whenever it is set.
  const authenticated = allowlistOf(s.ip_allowlist) !== null;
  return {
    authenticated,
    flow: flow ?? (authenticated ? HELPLINE_FLOW : HELPLINE_FLOW_WITHOUT_REPLIES),
    flowName: s.flow_name ?? 'helpline',
    pageBudget: s[`page_budget_${adapter.name}`] ?? s.page_budget ?? adapter.pageBudget,
    budgetMs: s.budget_ms ?? config.ussd.budgetMs,
    identifier: s.durable_sessions === 'true' ? 'msisdn' : 'session',
    boundaries: s.session_boundaries ?? DEFAULT_BOUNDARIES,
  };
}
