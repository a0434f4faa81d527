/**
 * `ussd_request_v1`: a USSD service reached through any of the supported gateways
 * (ussd/gateways/: Africa's Talking, Nalo, Nsano, Hubtel, Arkesel, ...) at /v1/ussd/<gateway>/<opaque id>.
 * One row per request, committed on arrival under a request id: the raw body, the parsed
 * request (`data`), the normalised turn; then, once processed, its de-duplication key (a
 * repeated hop points at the first with `replay_of` and is answered identically), the
 * answer sent and its latency. Unprocessed rows are pending; the pass retries them.
 * Menus come from a flow document (`--flow`, validated), by default the helpline flow.
 * Sessions live in `ussd_sessions`. Here: the table and its setup; route.ts (requests),
 * hop.ts (answering one), sessions.ts, settings.ts (fields and their schema).
 */
import { sql } from 'kysely';
import { SwitchboardError } from '../../engine/errors.ts';
import { defineReplicator } from '../../engine/replicator.ts';
import { channelOf, FRONT_USSD_CHANNEL } from '../front-ussd-channel-app-v1.ts';
import { GATEWAYS } from '../../ussd/types.ts';
import { retryPendingHops } from './hop.ts';
import { USSD_SERVICE, ussdRoutes } from './route.ts';
import { storedSettings, USSD_FIELDS } from './settings.ts';

const UNAUTHENTICATED = 'unauthenticated';
const UNAUTHENTICATED_EFFECT = 'anyone with the URL could pose as a caller, so replies are not shown over USSD and SMS consent is not recorded';
const ADDRESSES_GUIDE = "where each gateway publishes its addresses: docs/guides/ussd-helpline.md, \"Gateways' addresses\"";


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
  // A request is written once, on arrival; processing fills in the rest (hop.ts).
  updateWhere: 'false',
  // Pending: not processed yet, or holding a typed message until a Front USSD channel is linked.
  pendingWhere: `(processed_at IS NULL AND failed_at IS NULL) OR data ? 'held_message'`,
  failedWhere: 'failed_at IS NOT NULL',
  failedReason: `'not processed after ' || attempts || ' attempts: ' || coalesce(last_error, '?')`,
  // A hop whose processing failed (or whose process died) is retried by the next pass, polls included.
  backfillers: (integration) => [{ name: 'pending hops', run: async (ctx) => void (await retryPendingHops(ctx.engine, integration)) }],
  polls: true,
  resetClears: [],
  fields: USSD_FIELDS,
  // The Front USSD channel is linked explicitly, by id: a second channel created later cannot
  // silently change where typed messages go.
  async linkSettings(db, settings, { creating }): Promise<{ settings: Record<string, string>; notes: string[] }> {
    const channels = await db.selectFrom('service_integrations').select(['id', 'opaque_id']).where('service_name', '=', FRONT_USSD_CHANNEL).orderBy('id').execute();
    const choices = channels.map((c) => `${c.id} (${c.opaque_id})`).join(', ');
    if (settings.channel) {
      const found = await channelOf(db, settings.channel);
      if (!found) throw new SwitchboardError('SB_ERR_USAGE', `--channel ${settings.channel} is no ${FRONT_USSD_CHANNEL} integration; ${choices ? `choose one of: ${choices}` : 'create one first'}`);
      return { settings: { channel: String(found.id) }, notes: [] };
    }
    const only = channels.length === 1 ? channels[0]! : null;
    if (!creating) return { settings: {}, notes: [] };
    if (only) return { settings: { channel: String(only.id) }, notes: [`--channel ${only.id}: the only ${FRONT_USSD_CHANNEL} integration (${only.opaque_id})`] };
    if (channels.length === 0) return { settings: {}, notes: [`no ${FRONT_USSD_CHANNEL} integration yet: typed messages are held until one exists (link it with --channel)`] };
    throw new SwitchboardError('SB_ERR_USAGE', `several ${FRONT_USSD_CHANNEL} integrations exist: choose one with --channel <id>: ${choices}`);
  },
  routes: ussdRoutes,
  webhookUrl: (integration, publicUrl) => `${publicUrl}/v1/ussd/<gateway>/${integration.opaque_id}`,
  setupState(integration) {
    const { ip_allowlist: allowlist, channel } = storedSettings(integration);
    const link = channel
      ? `typed messages go to ${FRONT_USSD_CHANNEL} #${channel}`
      : `no Front USSD channel linked: typed messages are held (pending) until one is, with \`switchboard integrations update ${integration.id} --channel <id>\``;
    if (!allowlist) return { ready: false, state: UNAUTHENTICATED, detail: `${UNAUTHENTICATED}: ${UNAUTHENTICATED_EFFECT}; set --ip-allowlist (${ADDRESSES_GUIDE}); ${link}` };
    return channel ? { ready: true, detail: `authenticated: callers limited to the IP allowlist; ${link}` } : { ready: false, state: 'unlinked', detail: link };
  },
  async doctor(integration, { db }) {
    const { ip_allowlist: allowlist, channel: ref } = storedSettings(integration);
    const channel = await channelOf(db, ref);
    const { rows } = await sql<{ held: number }>`
      SELECT count(*)::int AS held FROM ussd_request_v1 WHERE integration_id = ${integration.id} AND data ? 'held_message'`.execute(db);
    const held = rows[0]?.held ?? 0;
    return [
      channel
        ? { check: 'front ussd channel', status: 'ok', detail: `typed messages go to ${FRONT_USSD_CHANNEL} #${channel.id}` }
        : {
            check: 'front ussd channel',
            status: held > 0 ? 'fail' : 'warn',
            detail: `${ref ? `--channel ${ref} is no ${FRONT_USSD_CHANNEL} integration` : `no single ${FRONT_USSD_CHANNEL} integration to use`}: ${held} typed message(s) held, pending. Link one with \`switchboard integrations update ${integration.id} --channel <id>\`; the next pass hands them over`,
          },
      allowlist
        ? { check: 'authentication', status: 'ok', detail: `callers limited to ${allowlist}` }
        : {
            check: 'authentication',
            status: 'warn',
            detail: `${UNAUTHENTICATED}: ${UNAUTHENTICATED_EFFECT}. Set \`switchboard integrations update ${integration.id} --ip-allowlist "<addresses or CIDR ranges>"\` with your gateway's published addresses (${ADDRESSES_GUIDE}); a refused request's address is in webhook_log.source_address`,
          },
    ];
  },
  setupInstructions: (integration, publicUrl) => {
    const { gateway, ip_allowlist: allowlist } = storedSettings(integration);
    return [
      allowlist
        ? `State: authenticated (callers limited to ${allowlist}).`
        : `State: ${UNAUTHENTICATED} — ${UNAUTHENTICATED_EFFECT}. Set --ip-allowlist with your gateway's addresses (${ADDRESSES_GUIDE}).`,
      'Give your USSD gateway the callback URL for it (keep it secret: USSD callbacks are unsigned):',
      ...(gateway ? [gateway] : GATEWAYS).map((g) => `  ${g.padEnd(15)} ${publicUrl}/v1/ussd/${g}/${integration.opaque_id}`),
    ].join('\n');
  },
});
