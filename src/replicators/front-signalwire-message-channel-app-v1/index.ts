/**
 * `front_signalwire_message_channel_app_v1`: a Front application channel bridged to one
 * SignalWire number, as a convergent two-way sync (WebhookDB's design, its defects fixed).
 *
 * - Front → SMS: Front POSTs `message` to /v1/install/front_signalwire/channel (channel-route.ts);
 *   one row per `to` recipient lands with front_message_id and no signalwire_sid.
 * - SMS → Front: every changed signalwire_message_v1 row of the parent integration is seen
 *   by onDependencyUpsert (a batch at a time); inbound-to-our-number and outbound-api-from-our-number messages
 *   land with signalwire_sid and no front_message_id; failed sends from our number add a
 *   notice row, imported once into the conversation.
 * - A pass (deliver.ts) delivers every pending row — SMS sent, message imported — and writes
 *   the counterpart id back. A row is done when delivered, failed (coded) or skipped.
 *
 * Fields: api_url = our phone number (E.164), backfill_key = Front channel id (set by
 * Front's `authorization` request), settings.region = default region for typed numbers.
 */
import { defineReplicator, type RowInput } from '../../engine/replicator.ts';
import { toE164 } from '../../providers/phone.ts';
import { frontChannel } from '../front-channel/descriptor.ts';
import { adoptOwnSend, knownMessages } from '../front-channel/own-sends.ts';
import { regionOf } from '../front-channel/rows.ts';
import { smsTransport } from '../front-channel/sms-transport.ts';
import { smsChannelSpec } from './channel-spec.ts';
import { failureNoticeRow, signalWireRow } from './rows.ts';

export const FRONT_SIGNALWIRE_CHANNEL = 'front_signalwire_message_channel_app_v1';
export const CHANNEL_PATH = '/v1/install/front_signalwire/channel';

/** Failures older than this get no notice (WebhookDB: 4 days). */
const NOTICE_WINDOW_MS = 4 * 86_400_000;

export const frontSignalwireMessageChannelAppV1 = defineReplicator({
  name: FRONT_SIGNALWIRE_CHANNEL,
  description: 'Front/SignalWire Messages',
  ...frontChannel({ name: FRONT_SIGNALWIRE_CHANNEL, path: CHANNEL_PATH, phoneDescription: 'the SignalWire number to bridge', spec: smsChannelSpec, transport: smsTransport }),
  // Set-based: one lookup of the batch's outbound sids, one upsert of every row it imports.
  async onDependencyUpsert(ctx, { rows }) {
    const integration = ctx.integration;
    const support = integration.api_url;
    if (!support) return;
    const region = regionOf(integration, ctx.config);
    const messages = rows.filter((row) => row.changed).flatMap((row) => {
      const data = (row.data ?? {}) as Record<string, unknown>;
      const from = toE164(String(row.columns.from ?? data.from ?? ''), region);
      const to = toE164(String(row.columns.to ?? data.to ?? ''), region);
      if (!from || !to) return [];
      const direction = (row.columns.direction ?? data.direction ?? null) as string | null;
      const kind = direction === 'inbound' && to === support ? 'inbound' : direction === 'outbound-api' && from === support ? 'outbound' : null;
      return [{ row, kind, from, to, message: { sid: row.key, direction, from, to, data } }];
    });
    const known = await knownMessages(ctx, integration, messages.filter((m) => m.kind === 'outbound').map((m) => m.message.sid));

    const imports: RowInput[] = [];
    for (const { row, kind, from, to, message } of messages) {
      // An inbound message is keyed by its sid, so storing it again leaves a known one as it is.
      if (kind === 'inbound') {
        imports.push(signalWireRow(message, kind, from, to));
      } else if (kind === 'outbound' && !known.has(message.sid)) {
        // Matched or imported now: a later version of it in this batch is a known message.
        known.add(message.sid);
        if (!(await adoptOwnSend(ctx, integration, message.sid, from, to, message.data))) imports.push(signalWireRow(message, kind, from, to));
      }
      const status = String(row.columns.status ?? '');
      const updated = row.columns.date_updated instanceof Date ? row.columns.date_updated : new Date();
      if ((status === 'failed' || status === 'undelivered') && from === support && Date.now() - updated.getTime() < NOTICE_WINDOW_MS) {
        imports.push(failureNoticeRow(message, support, to, new Date()));
      }
    }
    if (imports.length > 0) await ctx.upsert(imports);
  },
  setupInstructions: (integration, publicUrl) =>
    [
      'Almost there! You can now finish installing the SignalWire Channel in Front.',
      "In Front, go to Settings -> Company -> Channels, click 'Connect a Channel', and choose your",
      "Switchboard/SignalWire channel app. In the 'Token' field, enter the API key printed when this",
      `integration was created (lost it? \`switchboard integrations roll-key ${integration.id}\` prints a new one).`,
      `Front will call ${publicUrl}${CHANNEL_PATH}; the channel's number is ${integration.api_url}.`,
      integration.backfill_key ? `Connected to Front channel ${integration.backfill_key}.` : 'Not connected to a Front channel yet.',
    ].join('\n'),
});
