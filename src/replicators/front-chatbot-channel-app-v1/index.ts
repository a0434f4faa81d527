/**
 * `front_chatbot_channel_app_v1`: a Front application channel for chatbot handoffs
 * (issue 17), over the `chatbot_handoff_v1` integration it depends on.
 *
 * - Bot → Front: every client message the handoff integration stores (chatbot_handoff_v1
 *   rows of kind `chat`) becomes an inbound row in the handoff's conversation (external
 *   conversation id `<session>#<handoff>`), imported by the pass in order, the client shown
 *   by pseudonym. The conversation id is also the handle, so replies name their handoff.
 * - Front → bot: a counsellor's reply (`message` at POST|DELETE /v1/install/front_chatbot/channel,
 *   checked like the SMS channel's) is an outbound row per conversation, sent through
 *   RapidPro to the handoff's contact (transport.ts), its RapidPro status tracked to final
 *   (status.ts); the bot's receipts (`ack/`) land in client_status.
 * - A counsellor archiving the conversation ends the handoff: Front's application event
 *   (events.ts), or, when that is lost, the conversation's status read by the pass (archives.ts).
 *
 * Fields: none of its own (no phone number); backfill_key = the Front channel id.
 */
import { sql } from 'kysely';
import { defineReplicator, perRow } from '../../engine/replicator.ts';
import type { ChannelSpec } from '../front-channel/deliver.ts';
import { frontChannel } from '../front-channel/descriptor.ts';
import type { HandleParser } from '../front-channel/rows.ts';
import { conversationIdOf } from '../chatbot-handoff-v1/handoffs.ts';
import { chatbotSettings } from '../chatbot-handoff-v1/settings.ts';
import { checkArchives } from './archives.ts';
import { chatbotEventRoutes } from './events.ts';
import { requestAcks, trackReplies } from './status.ts';
import { raiseAlerts, unattended } from './unattended.ts';
import { rapidProTransport } from './transport.ts';

export const FRONT_CHATBOT_CHANNEL = 'front_chatbot_channel_app_v1';
export const CHATBOT_CHANNEL_PATH = '/v1/install/front_chatbot/channel';
const TABLE = sql.table(FRONT_CHATBOT_CHANNEL);

/** `<session>#<handoff>` back into its parts; null for a conversation that is no handoff's. */
export function handoffOfConversation(id: string): { session: string; handoff: number } | null {
  const at = id.lastIndexOf('#');
  const handoff = Number(id.slice(at + 1));
  return at > 0 && Number.isInteger(handoff) && handoff > 0 ? { session: id.slice(0, at), handoff } : null;
}

/** A reply's recipient handle is its handoff's conversation id (the handle its client messages were imported with). */
const conversationHandle: HandleParser = (handle) =>
  handle && handoffOfConversation(handle) ? { id: handle } : { problem: 'not a chatbot handoff conversation (<chat_session>#<handoff>)' };

/** Posted into the conversation when the handoff ends other than by the counsellor. */
export function endNotice(by: 'bot' | 'timeout', timeoutMinutes: number): string {
  return by === 'bot'
    ? 'The chatbot ended this conversation: the client is back with the bot. A new message from them opens a new conversation.'
    : `Closed after ${timeoutMinutes} minutes without a message from the client; the bot has been told. A new message from them opens a new conversation.`;
}

const chatbotChannelSpec: ChannelSpec = {
  invariant: (row) =>
    row.direction === 'outbound' && row.front_message_id === null
      ? 'reply without its Front message'
      : row.direction === 'inbound' && !row.external_conversation_id
        ? 'client message without its handoff'
        : null,
  // A message recovered by polling was written when RapidPro received it, not when we found it.
  writtenAt: (row) => (typeof row.data.written_at === 'string' ? new Date(row.data.written_at) : row.row_created_at),
  importPlan: async (_delivery, row) => ({
    body: row.body?.trim() ? row.body : '<no body>',
    files: [],
    externalId: row.external_id,
    key: `fcca-fims-${row.external_id}`,
    ...(typeof row.pseudonym === 'string' && row.pseudonym ? { senderName: row.pseudonym } : {}),
  }),
};

const channel = frontChannel({
  name: FRONT_CHATBOT_CHANNEL,
  path: CHATBOT_CHANNEL_PATH,
  fields: [],
  parseHandle: conversationHandle,
  extraColumns: [
    { name: 'chat_session', type: 'text' },
    { name: 'handoff', type: 'integer' },
    { name: 'pseudonym', type: 'text' },
  ],
  spec: chatbotChannelSpec,
  transport: rapidProTransport,
});

export const frontChatbotChannelAppV1 = defineReplicator({
  name: FRONT_CHATBOT_CHANNEL,
  description: 'Front/chatbot handoffs',
  ...channel,
  stateColumns: [
    ...channel.stateColumns!,
    { name: 'rapidpro_status', type: 'text' },
    { name: 'rapidpro_checked_at', type: 'timestamptz' },
    { name: 'client_status', type: 'text' },
  ],
  // Deliver first, then learn what became of earlier replies.
  backfillers: (integration) => [
    // Alerts first, so the same pass imports them.
    { name: 'unattended alerts', run: (ctx) => raiseAlerts(ctx.engine, integration) },
    ...channel.backfillers!(integration),
    { name: 'rapidpro status', run: (ctx) => trackReplies(ctx, integration) },
    // An archive whose application event never came (archives.ts).
    { name: 'archived in front', run: (ctx) => checkArchives(ctx, integration) },
    // Messages now in Front may owe the bot platform an acknowledgement: the handoff integration's pass sends them.
    { name: 'acknowledgements due', run: (ctx) => requestAcks(ctx, integration) },
  ],
  // Front's channel requests, and its application events (a counsellor archiving a handoff).
  routes: async (app, options) => {
    await channel.routes!(app, options);
    await chatbotEventRoutes(app, options);
  },
  statusDetails: async (integration, db) => ({ unattended: await unattended(db, integration) }),
  // Replies not final at RapidPro, and clients left waiting, are checked by the periodic pass.
  polls: true,
  onDependencyUpsert: perRow(async (ctx, { row, dependency }) => {
    if (!row.changed) return;
    const c = row.columns as Record<string, unknown>;
    if (c.kind === 'chat') {
      const conversation = conversationIdOf(String(c.chat_session), Number(c.handoff));
      const columns = {
        external_conversation_id: conversation,
        direction: 'inbound',
        body: c.body,
        // The handle is the conversation id, so a reply's recipient names its handoff; Front shows the pseudonym.
        sender: conversation,
        recipient: ctx.integration.opaque_id,
        chat_session: c.chat_session,
        handoff: c.handoff,
        pseudonym: c.pseudonym,
      };
      const polled = (row.data as { rapidpro_message?: { created_on?: unknown } } | null)?.rapidpro_message;
      const writtenAt = typeof polled?.created_on === 'string' ? { written_at: polled.created_on } : {};
      await ctx.upsert([{ key: row.key, columns, data: { ...columns, request_key: row.key, ...writtenAt } }]);
    } else if (c.kind === 'close') {
      // The counsellor ended it in Front and knows; otherwise the conversation says how it ended, once.
      const by = (row.data as { closed_by?: unknown } | null)?.closed_by;
      if (by !== 'bot' && by !== 'timeout') return;
      const conversation = conversationIdOf(String(c.chat_session), Number(c.handoff));
      const columns = { external_conversation_id: conversation, direction: 'inbound', body: endNotice(by, chatbotSettings(dependency).session_timeout), sender: conversation, recipient: ctx.integration.opaque_id };
      await ctx.upsert([{ key: `closed-${conversation}`, columns, data: { ...columns, notice: `closed_by_${by}` } }]);
    } else if (c.kind === 'ack') {
      // A later receipt never undoes an earlier one: read after delivered, not the reverse.
      await sql`
        UPDATE ${TABLE} SET client_status = ${c.ack_status as string}, row_updated_at = now()
        WHERE integration_id = ${ctx.integration.id} AND rapidpro_message_uuid = ${c.message_id as string}
          AND (client_status IS NULL OR client_status = 'delivered' OR ${c.ack_status as string} = 'failed')`.execute(ctx.db);
    }
  }),
  setupInstructions: (integration, publicUrl) =>
    [
      'In Front, connect your Switchboard/chatbot channel app (Settings -> Company -> Channels -> Connect a Channel)',
      'and enter the API key printed when this integration was created as its token',
      `(\`switchboard integrations roll-key ${integration.id}\` prints a new one). Front calls ${publicUrl}${CHATBOT_CHANNEL_PATH}.`,
      'Each handoff from the chatbot becomes one conversation; replies go back through RapidPro.',
      integration.backfill_key ? `Connected to Front channel ${integration.backfill_key}.` : 'Not connected to a Front channel yet.',
    ].join('\n'),
});
