/**
 * What every Front application channel declares alike: the delivery table's columns and
 * rules, its dependency on the provider integration its transport sends through, its API
 * key, CLI fields, Front's requests at its own path, and its backfill (delivery with its
 * spec and transport). A channel module adds its name, transport, extra columns,
 * dependency hook and setup text.
 */
import type { ColumnSpec, FieldSpec, Finding, Replicator } from '../../engine/replicator.ts';
import { channelFailures } from './carrier.ts';
import { channelRoutes } from './channel-route.ts';
import { deliverPending, type ChannelSpec } from './deliver.ts';
import { channelFields } from './fields.ts';
import { frontRows, type HandleParser } from './rows.ts';
import type { Transport } from './transport.ts';

/** What deliver.ts writes on every channel row: where its delivery stands, and what an unknown outcome needs. */
const DELIVERY_STATE_COLUMNS: ColumnSpec[] = [
  { name: 'delivery_status', type: 'text' },
  { name: 'delivery_error_code', type: 'text' },
  { name: 'delivery_error_message', type: 'text' },
  { name: 'delivery_attempts', type: 'integer' },
  { name: 'next_attempt_at', type: 'timestamptz' },
  { name: 'send_started_at', type: 'timestamptz' },
  { name: 'import_started_at', type: 'timestamptz' },
  { name: 'import_external_id', type: 'text' },
  { name: 'front_imported_id', type: 'text' },
  { name: 'delivered_at', type: 'timestamptz' },
];

export function frontChannel(options: {
  name: string;
  path: string;
  /** The CLI's phone number and region fields (channelFields)... */
  phoneDescription?: string;
  /** ...or the channel's own fields instead. */
  fields?: FieldSpec[];
  /** How Front's recipient handles become client ids (default: E.164 numbers). */
  parseHandle?: HandleParser;
  extraColumns?: ColumnSpec[];
  spec: ChannelSpec;
  transport: Transport;
}): Pick<
  Replicator,
  | 'remoteKey'
  | 'columns'
  | 'stateColumns'
  | 'updateWhere'
  | 'pendingWhere'
  | 'failedWhere'
  | 'failedReason'
  | 'dependsOn'
  | 'issuesApiKey'
  | 'backfillOnChange'
  | 'resetClears'
  | 'fields'
  | 'toRows'
  | 'backfillers'
  | 'routes'
  | 'webhookUrl'
  | 'setupState'
  | 'doctor'
> {
  const { spec, transport } = options;
  return {
    remoteKey: 'external_id',
    columns: [
      { name: transport.counterpartColumn, type: 'text', onUpdate: 'coalesce' },
      { name: 'front_message_id', type: 'text', onUpdate: 'coalesce' },
      { name: 'external_conversation_id', type: 'text' },
      { name: 'direction', type: 'text' },
      { name: 'body', type: 'text' },
      { name: 'sender', type: 'text' },
      { name: 'recipient', type: 'text' },
      ...(options.extraColumns ?? []),
    ],
    stateColumns: DELIVERY_STATE_COLUMNS,
    // Only rows still waiting may change, and only when something really changed: a
    // retried Front request or a re-polled message is not a change (WebhookDB re-queued a
    // pass for those, its "hot loop").
    updateWhere: `existing.delivery_status = 'pending' AND existing.data IS DISTINCT FROM excluded.data`,
    pendingWhere: `delivery_status = 'pending'`,
    // Refused by the provider, or accepted and then failed by the carrier (carrier.ts).
    ...channelFailures(transport.record, options.name),
    dependsOn: transport.dependsOn,
    issuesApiKey: true,
    backfillOnChange: true,
    // The Front channel id survives a reset (WebhookDB wiped it, breaking imports until Front re-authorised).
    resetClears: [],
    fields: options.fields ?? channelFields(options.phoneDescription ?? 'the number replies come from'),
    toRows: (item, { integration, config }) => frontRows(item, integration, config, transport.counterpartColumn, options.parseHandle),
    backfillers: (integration) => [{ name: 'deliver', run: (ctx) => deliverPending(ctx, integration, spec, transport) }],
    routes: channelRoutes(options.path, options.name),
    webhookUrl: (_integration, publicUrl) => `${publicUrl}${options.path}`,
    setupState(integration, config) {
      if (!config.front.appUid || !config.front.appSecret) return { ready: false, detail: 'FRONT_CHANNEL_APP_UID and FRONT_CHANNEL_APP_SECRET are not set' };
      if (!integration.backfill_key) return { ready: false, detail: 'waiting for Front: connect the channel in Front with this integration\'s API key' };
      return { ready: true, detail: `connected to Front channel ${integration.backfill_key}` };
    },
    async doctor(integration, { config }) {
      const findings: Finding[] = [];
      findings.push(
        config.front.appUid && config.front.appSecret
          ? { check: 'front app', status: 'ok', detail: 'FRONT_CHANNEL_APP_UID and FRONT_CHANNEL_APP_SECRET are set' }
          : { check: 'front app', status: 'fail', detail: "set FRONT_CHANNEL_APP_UID and FRONT_CHANNEL_APP_SECRET from your Front app's Basic information" },
      );
      findings.push(
        integration.backfill_key
          ? { check: 'front channel', status: 'ok', detail: `connected to Front channel ${integration.backfill_key}` }
          : { check: 'front channel', status: 'warn', detail: `not connected yet: connect the channel in Front with this integration's API key (\`switchboard integrations roll-key ${integration.id}\` prints a new one)` },
      );
      return findings;
    },
  };
}
