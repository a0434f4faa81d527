/**
 * `front_whatsapp_channel_app_v1`: a Front application channel bridged to one WhatsApp
 * Business number (a `whatsapp_message_v1` integration), as a convergent two-way sync.
 *
 * - WhatsApp → Front: every inbound message of the parent routed to Front
 *   (`routed_to = 'front'`; a flow may hold a message undecided, then route it here by
 *   upserting it again) becomes an inbound row keyed by its wamid, in the conversation of
 *   the client's E.164 number, or of their business-scoped user id when Meta gives no
 *   number. A client writing back releases replies waiting for the 24-hour window.
 * - Front → WhatsApp: Front POSTs `message` to /v1/install/front_whatsapp/channel (the
 *   shared channel route); one row per recipient, sent by the pass through the WhatsApp
 *   transport (whatsapp-transport.ts), its wamid written back.
 * - Status receipts: one carrying our tag settles a send whose answer was lost; a `failed`
 *   one posts a failure notice into the conversation, once per message.
 *
 * Fields: depends on the whatsapp_message_v1 integration; backfill_key = the Front channel
 * id; settings reengage_template (`name:language`), read_receipts (on/off), region.
 */
import { sql } from 'kysely';
import { defineReplicator, type ReplicatorContext, type RowInput, type UpsertedRow } from '../../engine/replicator.ts';
import { parseRegionFlag } from '../../providers/phone.ts';
import { frontChannel } from '../front-channel/descriptor.ts';
import { whatsAppChannelSpec } from './channel-spec.ts';
import { clientIdOf, failureNoticeText, FRONT_WHATSAPP_CHANNEL, inboundRow, postNotice, whatsAppHandle } from './rows.ts';
import { whatsAppTransport } from './whatsapp-transport.ts';

export { FRONT_WHATSAPP_CHANNEL };
export const WHATSAPP_CHANNEL_PATH = '/v1/install/front_whatsapp/channel';
const TABLE = sql.table(FRONT_WHATSAPP_CHANNEL);

/** Our tag on a send (whatsapp-transport.ts): the channel and the row, and nothing for a template or a later part. */
const TAG = /^fwca:(\d+):(\d+)$/;

export const frontWhatsappChannelAppV1 = defineReplicator({
  name: FRONT_WHATSAPP_CHANNEL,
  description: 'Front/WhatsApp Messages',
  ...frontChannel({
    name: FRONT_WHATSAPP_CHANNEL,
    path: WHATSAPP_CHANNEL_PATH,
    fields: [
      {
        flag: 'reengage-template',
        target: { setting: 'reengage_template' },
        description: 'approved template (name:language, e.g. new_message:en) sent when a reply falls outside the 24-hour window; without it such replies are skipped',
        parse: (value) => {
          if (!/^[a-z0-9_]{1,512}:[A-Za-z]{2,3}(_[A-Za-z]{2,4})?$/.test(value)) throw new Error('a template is name:language, e.g. new_message:en or new_message:pt_BR');
          return value;
        },
      },
      {
        flag: 'read-receipts',
        target: { setting: 'read_receipts' },
        description: "on (default) or off: mark the client's messages read when a reply is sent",
        parse: (value) => {
          if (value !== 'on' && value !== 'off') throw new Error('--read-receipts is on or off');
          return value;
        },
      },
      { flag: 'region', target: { setting: 'region' }, description: 'two-letter country for numbers typed without a country code', parse: parseRegionFlag },
    ],
    parseHandle: whatsAppHandle,
    spec: whatsAppChannelSpec,
    transport: whatsAppTransport,
  }),
  // Called for every upsert of the parent, changed or not: a flow hands a message over by upserting it again.
  // Messages set-based (one lookup, one import, one window update per batch); receipts one at a time.
  async onDependencyUpsert(ctx, { rows }) {
    await importMessages(ctx, rows.filter((row) => row.columns.direction === 'inbound'));
    for (const row of rows) if (row.columns.direction !== 'inbound') await settleReceipts(ctx, row);
  },
  providerFix: (integration) =>
    `WhatsApp refused the access token: fix it on the whatsapp_message_v1 integration with \`switchboard integrations update ${integration.depends_on} --access-token <token>\``,
  setupInstructions: (integration, publicUrl) =>
    [
      'Almost there! You can now finish installing the WhatsApp Channel in Front.',
      "In Front, go to Settings -> Company -> Channels, click 'Connect a Channel', and choose your",
      "Switchboard/WhatsApp channel app. In the 'Token' field, enter the API key printed when this",
      `integration was created (lost it? \`switchboard integrations roll-key ${integration.id}\` prints a new one).`,
      `Front will call ${publicUrl}${WHATSAPP_CHANNEL_PATH}; replies go out through whatsapp_message_v1 #${integration.depends_on}.`,
      typeof integration.settings.reengage_template === 'string'
        ? `Replies after the 24-hour window wait for the client; the template ${integration.settings.reengage_template} invites them back.`
        : 'Replies after the 24-hour window are skipped (add --reengage-template <name>:<language> to invite the client back).',
      integration.backfill_key ? `Connected to Front channel ${integration.backfill_key}.` : 'Not connected to a Front channel yet.',
    ].join('\n'),
});

/** Import the batch's messages routed to Front; a client who wrote reopens the window of the replies waiting for them. */
async function importMessages(ctx: ReplicatorContext, messages: UpsertedRow[]): Promise<void> {
  if (messages.length === 0) return;
  const channel = ctx.integration;
  const { rows: stored } = await sql<{ wamid: string; routed_to: string | null; from: string | null }>`
    SELECT wamid, routed_to, "from" FROM whatsapp_message_v1 WHERE integration_id = ${channel.depends_on} AND wamid = ANY(${messages.map((m) => m.key)}::text[])`.execute(ctx.db);
  const byWamid = new Map(stored.map((m) => [m.wamid, m]));
  const imports: RowInput[] = [];
  for (const row of messages) {
    const data = (row.data ?? {}) as Record<string, any>;
    const known = byWamid.get(row.key);
    if ((row.columns.routed_to ?? known?.routed_to) !== 'front') continue;
    const client = clientIdOf((row.columns.from as string | null) ?? known?.from ?? data.message?.user_id ?? data.contact?.user_id);
    if (!client) {
      ctx.log.warn({ integration_id: channel.id }, 'a WhatsApp message without a usable sender id is not imported');
      continue;
    }
    const display = data.metadata?.display_phone_number;
    imports.push(inboundRow(row.key, client, typeof display === 'string' ? `+${display}` : null, data));
  }
  if (imports.length === 0) return;
  const wrote = [...new Set((await ctx.upsert(imports)).filter((row) => row.inserted).map((row) => row.columns.sender as string))];
  if (wrote.length === 0) return;
  // The client wrote: the window is open again, replies waiting for it go now.
  await sql`
    UPDATE ${TABLE} SET next_attempt_at = NULL, row_updated_at = now()
    WHERE integration_id = ${channel.id} AND delivery_status = 'pending' AND direction = 'outbound' AND recipient = ANY(${wrote}::text[])
      AND send_started_at IS NULL AND next_attempt_at IS NOT NULL`.execute(ctx.db);
}

/** A status receipt: settles our send whose answer was lost, or tells the counsellor it failed. */
async function settleReceipts(ctx: ReplicatorContext, row: UpsertedRow): Promise<void> {
  const channel = ctx.integration;
  const data = (row.data ?? {}) as Record<string, any>;
    for (const receipt of Object.values((data.statuses ?? {}) as Record<string, Record<string, any>>)) {
      const tag = TAG.exec(String(receipt.biz_opaque_callback_data ?? ''));
      if (tag && Number(tag[1]) === channel.id && receipt.status !== 'failed') {
        // Our send whose answer may have been lost: its receipt settles it (never sent again).
        const adopted = await sql`
          UPDATE ${TABLE} SET whatsapp_wamid = ${row.key}, delivery_status = 'delivered', delivered_at = now(), next_attempt_at = NULL, row_updated_at = now()
          WHERE pk = ${Number(tag[2])} AND integration_id = ${channel.id} AND delivery_status = 'pending'
            AND whatsapp_wamid IS NULL AND send_started_at IS NOT NULL`.execute(ctx.db);
        if (Number(adopted.numAffectedRows ?? 0) > 0) ctx.log.info({ integration_id: channel.id, pk: Number(tag[2]) }, 'send settled by its status receipt');
      }
    }
    const failed = data.statuses?.failed;
    const client = clientIdOf(row.columns.to as string | null);
    if (row.columns.status !== 'failed' || !failed || !client) return;
    const { rows } = await sql<{ body: string | null }>`SELECT body FROM ${TABLE} WHERE integration_id = ${channel.id} AND whatsapp_wamid = ${row.key} AND NOT data ? 'notice'`.execute(ctx.db);
    const error = (failed.errors?.[0] ?? {}) as Record<string, unknown>;
    await postNotice(ctx.db, channel, {
      key: `wafail-${row.key}`,
      kind: 'whatsapp_failure',
      client,
      text: failureNoticeText(row.columns.error_code as number | null, typeof error.title === 'string' ? error.title : null, rows[0]?.body ?? null),
      about: { failed_wamid: row.key },
    });
    await ctx.requestBackfill(channel.id);
}
