/**
 * Replies through RapidPro (the chatbot channel's transport): a counsellor's reply goes to
 * the handoff's contact with `POST messages.json` (a broadcast on Weni Flows), signed with
 * the counsellor's first name. RapidPro sends are not idempotent: a send whose answer never
 * came is looked for among the contact's outgoing messages since the attempt began before
 * anything is sent again; an attempt RapidPro throttled (429) sent nothing, so it does not
 * count as one to look for (the retry spends no request of the workspace's budget on a
 * look-up, unless an earlier attempt's outcome is still unknown). A reply to a handoff
 * already closed is not sent.
 */
import { sql, type Kysely } from 'kysely';
import type { Database, ServiceIntegration } from '../../db/schema.ts';
import { SwitchboardError } from '../../engine/errors.ts';
import { ProviderHttpError } from '../../providers/http.ts';
import { messageKey } from '../../providers/rapidpro/client.ts';
import { rapidProClient } from '../chatbot-handoff-v1/budget.ts';
import { CHATBOT_HANDOFF } from '../chatbot-handoff-v1/api.ts';
import type { CarrierRecord } from '../front-channel/carrier.ts';
import type { ChannelRow, Delivery } from '../front-channel/deliver.ts';
import type { Transport } from '../front-channel/transport.ts';

/** How far back a lost send is looked for: clocks differ, and RapidPro stamps the message when it stores it. */
const CLOCK_SLACK_MS = 60_000;

/** The RapidPro message's status, tracked on the row itself (status.ts); RapidPro says no more about a failure. */
export const RAPIDPRO_RECORD: CarrierRecord = {
  query: (row) => `SELECT ${row}.rapidpro_status AS status, NULL::text AS error_code, NULL::text AS error_message WHERE ${row}.rapidpro_status IS NOT NULL`,
  failedStatuses: ['failed'],
};

/** What the client reads: the reply signed with the counsellor's first name (their pseudonym). */
export function signedText(row: ChannelRow): string {
  const author = ((row.data.payload ?? {}) as { author?: { first_name?: unknown } | null }).author;
  const name = typeof author?.first_name === 'string' && author.first_name.trim() ? author.first_name.trim() : 'Counsellor';
  return `${name}: ${row.body ?? ''}`;
}

interface HandoffState {
  contact: string;
  status: string;
}

/** The handoff a reply answers, named by its conversation id. */
async function handoffOf(db: Kysely<Database>, parent: ServiceIntegration, row: ChannelRow): Promise<HandoffState | null> {
  const { rows } = await sql<HandoffState>`
    SELECT contact, status FROM chatbot_handoffs
    WHERE integration_id = ${parent.id} AND chat_session || '#' || handoff = ${row.external_conversation_id ?? ''}`.execute(db);
  return rows[0] ?? null;
}

async function contactOf(delivery: Delivery, row: ChannelRow, db: Kysely<Database>): Promise<string> {
  const handoff = await handoffOf(db, delivery.parent, row);
  if (!handoff) throw new SwitchboardError('SB_ERR_INVARIANT', `no handoff ${String(row.external_conversation_id)} for this reply`);
  return handoff.contact;
}

export const rapidProTransport: Transport = {
  dependsOn: CHATBOT_HANDOFF,
  counterpartColumn: 'rapidpro_message_uuid',
  record: RAPIDPRO_RECORD,
  sendKey: (row) => `fcca-send-${row.external_id}`,

  async refusal({ ctx, parent }, row) {
    const handoff = await handoffOf(ctx.db, parent, row);
    if (!handoff) return { marker: 'skipped', message: `no handoff ${String(row.external_conversation_id)}: the conversation did not come from the chatbot` };
    if (handoff.status !== 'open') return { marker: 'skipped', message: 'the handoff was closed before the reply went; the client is back with the bot' };
    if (!row.body?.trim()) return { marker: 'skipped', message: 'a reply without text (attachments do not go through RapidPro)' };
    return null;
  },

  async send(delivery, row, db) {
    const contact = await contactOf(delivery, row, db);
    let sent;
    try {
      sent = await rapidProClient(delivery.parent, delivery.ctx.db).sendMessage(contact, signedText(row));
    } catch (error) {
      // Throttled (429): this attempt sent nothing, so the row's start goes back to what it was
      // (none, unless an earlier attempt's outcome is still unknown and must be looked for).
      if (error instanceof ProviderHttpError && error.httpStatus === 429) {
        await sql`UPDATE front_chatbot_channel_app_v1 SET send_started_at = ${row.send_started_at} WHERE pk = ${row.pk}`.execute(delivery.ctx.db);
      }
      throw error;
    }
    // The send's answer is the first reading of its status (status.ts reads the next one a while later).
    await sql`UPDATE front_chatbot_channel_app_v1 SET rapidpro_status = ${sent.status}, rapidpro_checked_at = now() WHERE pk = ${row.pk}`.execute(db);
    return messageKey(sent);
  },

  // Our outgoing message to the contact with this text, created since the attempt began and not another row's.
  async findEarlierSend(delivery, row, since, db) {
    const contact = await contactOf(delivery, row, db);
    const after = new Date(since.getTime() - CLOCK_SLACK_MS).toISOString();
    const page = await rapidProClient(delivery.parent, delivery.ctx.db).listMessages({ contact, after });
    const text = signedText(row);
    for (const message of page.results) {
      if (message.direction !== 'out' || message.text !== text) continue;
      const { rows } = await sql`
        SELECT 1 FROM front_chatbot_channel_app_v1 WHERE integration_id = ${delivery.integration.id} AND rapidpro_message_uuid = ${messageKey(message)}`.execute(db);
      if (rows.length === 0) return messageKey(message);
    }
    return null;
  },
};
