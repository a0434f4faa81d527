/**
 * A USSD integration's settings, with defaults: whether its callers are authenticated
 * (an IP allowlist), its flow (the helpline flow unless `--flow` gave one; parsed once per
 * version of the integration), page budget in GSM-7 septets (the gateway's default),
 * response budget, and session options.
 */
import type { Config } from '../config.ts';
import type { ServiceIntegration } from '../db/schema.ts';
import { parseFlow, type Flow } from './flow/engine.ts';
import { allowlistOf } from './allowlist.ts';
import { HELPLINE_FLOW, HELPLINE_FLOW_WITHOUT_REPLIES } from './flow/helpline.ts';
import { DEFAULT_BOUNDARIES, type Boundary } from './sessions.ts';
import type { GatewayAdapter } from './types.ts';

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

const flows = new Map<string, Flow>();

function flowOf(integration: ServiceIntegration, authenticated: boolean): Flow {
  const text = integration.settings.flow;
  if (typeof text !== 'string' || !text) return authenticated ? HELPLINE_FLOW : HELPLINE_FLOW_WITHOUT_REPLIES;
  const cacheKey = `${integration.id}:${new Date(integration.updated_at).getTime()}`;
  let flow = flows.get(cacheKey);
  if (!flow) {
    flow = parseFlow(JSON.parse(text));
    flows.set(cacheKey, flow);
  }
  return flow;
}

const positive = (value: unknown): number | null => {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : null;
};

export function ussdSettings(integration: ServiceIntegration, adapter: GatewayAdapter, config: Config): UssdSettings {
  const s = integration.settings;
  const boundaries = typeof s.session_boundaries === 'string' ? (s.session_boundaries.split(',').map((b) => b.trim()) as Boundary[]) : DEFAULT_BOUNDARIES;
  const authenticated = allowlistOf(s.ip_allowlist) !== null;
  return {
    authenticated,
    flow: flowOf(integration, authenticated),
    flowName: typeof s.flow_name === 'string' && s.flow_name ? s.flow_name : 'helpline',
    pageBudget: positive(s[`page_budget_${adapter.name}`]) ?? positive(s.page_budget) ?? adapter.pageBudget,
    budgetMs: positive(s.budget_ms) ?? config.ussd.budgetMs,
    identifier: s.durable_sessions === 'true' ? 'msisdn' : 'session',
    boundaries,
  };
}
