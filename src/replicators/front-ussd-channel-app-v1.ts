/**
 * `front_ussd_channel_app_v1`: a Front application channel for USSD clients.
 *
 * - USSD → Front: what a client types in the USSD flow (submit_message) becomes an inbound
 *   row — sender and conversation the client's E.164 number — imported into Front by the
 *   pass. With the SMS channel on the same Front inbox, a client's SMS and USSD messages
 *   share one conversation (the conversation id is the number on both).
 * - Front → client: a counsellor's reply (`message` to POST|DELETE
 *   /v1/install/front_ussd/channel, checked like the SMS channel's) is an outbound row per
 *   recipient. It goes out by SMS (same send and reconcile rules as the SMS channel) when
 *   the client agreed to SMS replies, and is always listed under "Read replies" at the
 *   client's next dial, then marked read (`read_at`). When it cannot go by SMS, a notice
 *   (`data.notice = 'no_sms_consent'`) is imported into the conversation to say so.
 *
 * Fields: depends on the signalwire_message_v1 integration that sends SMS replies;
 * api_url = the SMS sender number; backfill_key = the Front channel id.
 */
import { sql, type Kysely } from 'kysely';
import type { Database, ServiceIntegration } from '../db/schema.ts';
import type { Engine } from '../engine/engine.ts';
import { ingestRows } from '../engine/ingest.ts';
import { defineReplicator } from '../engine/replicator.ts';
import { toE164 } from '../providers/phone.ts';
import type { ChannelSpec } from './front-channel/deliver.ts';
import { frontChannel } from './front-channel/descriptor.ts';
import { adoptOwnSend, knownMessages } from './front-channel/own-sends.ts';
import { regionOf } from './front-channel/rows.ts';
import { smsTransport } from './front-channel/sms-transport.ts';

export const FRONT_USSD_CHANNEL = 'front_ussd_channel_app_v1';
export const USSD_CHANNEL_PATH = '/v1/install/front_ussd/channel';
const TABLE = sql.table(FRONT_USSD_CHANNEL);

const ussdChannelSpec: ChannelSpec = {
  invariant: (row) => (row.direction === 'outbound' && row.front_message_id === null ? 'reply without its Front message' : null),
  writtenAt: (row) => row.row_created_at,
  importPlan: async (_delivery, row) => ({
    body: row.body?.trim() ? row.body : '<no body>',
    files: [],
    externalId: row.external_id,
    key: `fuca-fims-${row.external_id}`,
  }),
  // The client's latest word on SMS replies, from the last message they typed.
  async smsRefusal(delivery, row) {
    const consent = row.recipient ? await smsConsentOf(delivery.ctx.db, delivery.integration, row.recipient) : null;
    return consent === true ? null : 'the client did not agree to SMS replies (shown under Read replies instead)';
  },
  // Without it a counsellor cannot tell the reply is waiting for the client's next dial.
  async noticeOfRefusal(db, delivery, row) {
    const columns = {
      external_conversation_id: row.recipient,
      direction: 'inbound',
      body: NO_SMS_NOTICE,
      sender: row.recipient,
      recipient: row.sender,
    };
    // Through the upsert like every row: a second notice for one reply finds the same data and changes nothing.
    const data = { notice: 'no_sms_consent', reply_external_id: row.external_id, ...columns };
    await ingestRows(delivery.ctx.engine, delivery.integration, [{ key: `nosms-${row.external_id}`, columns, data }], { origin: 'backfill', db });
  },
};

/** Posted into the Front conversation when a reply waits for the client's next dial. */
export const NO_SMS_NOTICE =
  'Not sent by SMS: this client has not agreed to SMS replies. They will see the reply under "Read replies" the next time they dial in.';

export const frontUssdChannelAppV1 = defineReplicator({
  name: FRONT_USSD_CHANNEL,
  description: 'Front/USSD Messages',
  ...frontChannel({
    name: FRONT_USSD_CHANNEL,
    path: USSD_CHANNEL_PATH,
    phoneDescription: 'the SignalWire number SMS replies come from',
    extraColumns: [
      { name: 'sms_consent', type: 'boolean' },
      { name: 'ussd_request_id', type: 'bigint' },
    ],
    spec: ussdChannelSpec,
    transport: smsTransport,
  }),
  // Only to recognise our own SMS replies when SignalWire reports them; the SMS channel imports SMS.
  async onDependencyUpsert(ctx, { rows }) {
    const region = regionOf(ctx.integration, ctx.config);
    const ours = rows.filter((row) => row.changed).flatMap((row) => {
      const data = (row.data ?? {}) as Record<string, unknown>;
      const from = toE164(String(row.columns.from ?? data.from ?? ''), region);
      const to = toE164(String(row.columns.to ?? data.to ?? ''), region);
      const direction = row.columns.direction ?? data.direction;
      return direction === 'outbound-api' && from && to && from === ctx.integration.api_url ? [{ sid: row.key, from, to, data }] : [];
    });
    // One lookup for the batch; a send matched now is known to a later version of it in the batch.
    const known = await knownMessages(ctx, ctx.integration, ours.map((m) => m.sid));
    for (const { sid, from, to, data } of ours) {
      if (!known.has(sid) && (await adoptOwnSend(ctx, ctx.integration, sid, from, to, data))) known.add(sid);
    }
  },
  setupInstructions: (integration, publicUrl) =>
    [
      'In Front, connect your Switchboard/USSD channel app (Settings -> Company -> Channels -> Connect a Channel)',
      'and enter the API key printed when this integration was created as its token',
      `(\`switchboard integrations roll-key ${integration.id}\` prints a new one). Front calls ${publicUrl}${USSD_CHANNEL_PATH}.`,
      `SMS replies come from ${integration.api_url}. USSD services use this channel when it is the only one,`,
      `or when created with --channel ${integration.id}.`,
      integration.backfill_key ? `Connected to Front channel ${integration.backfill_key}.` : 'Not connected to a Front channel yet.',
    ].join('\n'),
});

/** The Front USSD channel a USSD service hands messages to: `ref` (its `--channel`: an id or opaque id), else the only one. */
export async function channelOf(db: Kysely<Database>, ref: string | undefined): Promise<ServiceIntegration | null> {
  const query = db.selectFrom('service_integrations').selectAll().where('service_name', '=', FRONT_USSD_CHANNEL);
  if (ref) {
    return (await (/^\d+$/.test(ref) ? query.where('id', '=', Number(ref)) : query.where('opaque_id', '=', ref)).executeTakeFirst()) ?? null;
  }
  const all = await query.limit(2).execute();
  return all.length === 1 ? all[0]! : null;
}

/*
 * What a USSD service does with its channel (ussd-request-v1/hop.ts calls these, in the hop's
 * transaction): hand over what a client typed, record their SMS consent, read their unread
 * replies, and mark replies read once shown.
 */

/** A client's typed message: an inbound row (the conversation is their number), imported into Front by the pass. Returns its external id. */
export async function submitMessage(
  engine: Engine,
  db: Kysely<Database>,
  channel: ServiceIntegration,
  message: { hopPk: number; msisdn: string; body: string; consent: boolean | null; gateway: string; sessionId: string },
): Promise<string> {
  const columns = {
    signalwire_sid: null,
    front_message_id: null,
    external_conversation_id: message.msisdn,
    direction: 'inbound',
    body: message.body,
    sender: message.msisdn,
    recipient: channel.api_url,
    sms_consent: message.consent,
    ussd_request_id: message.hopPk,
  };
  const key = `ussd-${message.hopPk}`;
  await ingestRows(engine, channel, [{ key, columns, data: { ...columns, gateway: message.gateway, ussd_session: message.sessionId } }], { origin: 'webhook', db });
  return key;
}

/** The client's answer on SMS replies, given after their message was handed over. */
export async function setConsent(db: Kysely<Database>, channel: ServiceIntegration, externalId: string, consent: boolean): Promise<void> {
  await sql`UPDATE ${TABLE} SET sms_consent = ${consent}, row_updated_at = now()
    WHERE integration_id = ${channel.id} AND external_id = ${externalId}`.execute(db);
}

/** The client's latest word on SMS replies (their last typed message's), as delivery reads it. */
export async function smsConsentOf(db: Kysely<Database>, channel: ServiceIntegration, msisdn: string): Promise<boolean | null> {
  const { rows } = await sql<{ sms_consent: boolean | null }>`
    SELECT sms_consent FROM ${TABLE}
    WHERE integration_id = ${channel.id} AND direction = 'inbound' AND external_conversation_id = ${msisdn} AND NOT data ? 'notice'
    ORDER BY pk DESC LIMIT 1`.execute(db);
  return rows[0]?.sms_consent ?? null;
}

export interface UnreadReply {
  id: string;
  text: string;
}

/** Replies to this client not read yet, oldest first. */
export async function unreadReplies(db: Kysely<Database>, channel: ServiceIntegration, msisdn: string): Promise<UnreadReply[]> {
  const { rows } = await sql<{ pk: number; body: string | null }>`
    SELECT pk, body FROM ${TABLE}
    WHERE integration_id = ${channel.id} AND direction = 'outbound' AND recipient = ${msisdn} AND read_at IS NULL
    ORDER BY pk LIMIT 20`.execute(db);
  return rows.map((r) => ({ id: String(r.pk), text: r.body ?? '' }));
}

export async function markRead(db: Kysely<Database>, channel: ServiceIntegration, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await sql`UPDATE ${TABLE} SET read_at = now(), row_updated_at = now() WHERE integration_id = ${channel.id} AND pk = ANY(${ids.map(Number)}::bigint[])`.execute(db);
}
