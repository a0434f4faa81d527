/**
 * `chatbot_handoff_v1`: a RapidPro/Weni chatbot handing clients to counsellors (issue 17,
 * the seed's model: the flow calls our API, replies go out through RapidPro's API).
 * One row per state-changing request of the chatbot-facing API (api.ts), stored raw with
 * the answer it got; handoffs in `chatbot_handoffs` (handoffs.ts); settings and the bot's
 * credentials in settings.ts. The Front side is `front_chatbot_channel_app_v1`, which
 * depends on this integration and sees every row stored here.
 */
import { defineReplicator } from '../../engine/replicator.ts';
import { ACK_PENDING, sendAcks } from './acks.ts';
import { CHATBOT_HANDOFF, chatbotRoutes } from './api.ts';
import { tellRapidPro } from './bot-actions.ts';
import { usageOf } from './budget.ts';
import { sweepIdle } from './handoffs.ts';
import { pollHandoffs } from './poll.ts';
import { CHATBOT_FIELDS, chatbotSettings, issueCredentials } from './settings.ts';

const apiBaseUrl = (opaqueId: string, publicUrl: string) => `${publicUrl}/v1/chatbot/${opaqueId}/`;

export const chatbotHandoffV1 = defineReplicator({
  name: CHATBOT_HANDOFF,
  description: 'Chatbot handoffs (RapidPro/Weni)',
  remoteKey: 'request_key',
  columns: [
    { name: 'kind', type: 'text' },
    { name: 'chat_session', type: 'text' },
    { name: 'handoff', type: 'integer' },
    { name: 'message_id', type: 'text' },
    { name: 'contact', type: 'text' },
    { name: 'pseudonym', type: 'text' },
    { name: 'body', type: 'text' },
    { name: 'body_hash', type: 'text' },
    { name: 'ack_status', type: 'text' },
    { name: 'response_status', type: 'integer' },
    { name: 'response_body', type: 'text' },
  ],
  stateColumns: [
    { name: 'helpline_ack_at', type: 'timestamptz' },
    { name: 'helpline_ack_attempts', type: 'integer' },
    { name: 'helpline_ack_error', type: 'text' },
  ],
  // A request is written once, with its answer; a repeat is answered from it.
  updateWhere: 'false',
  // What is owed to the bot platform: the acknowledgement of a message imported into Front (acks.ts).
  pendingWhere: ACK_PENDING,
  failedWhere: 'helpline_ack_error IS NOT NULL',
  failedReason: `'acknowledgement refused: ' || helpline_ack_error`,
  fields: CHATBOT_FIELDS,
  // The bot's credentials and the RapidPro token survive a reset unless given again.
  resetClears: [],
  routes: chatbotRoutes,
  // The safety net for messages whose webhook was lost (poll.ts), then the acknowledgements owed, on the periodic pass.
  backfillers: (integration) => [
    { name: 'poll rapidpro', run: (ctx) => pollHandoffs(ctx, integration) },
    { name: 'acknowledge', run: (ctx) => sendAcks(ctx, integration) },
    { name: 'close idle handoffs', run: async (ctx) => void (await sweepIdle(ctx.engine, integration, chatbotSettings(integration).session_timeout)) },
    { name: 'tell rapidpro', run: (ctx) => tellRapidPro(ctx, integration) },
  ],
  // A handoff opened or ended (a stored request changed) has RapidPro to tell: a pass does it.
  backfillOnChange: true,
  polls: true,
  statusDetails: async (integration, db) => ({ rapidpro: await usageOf(db, integration) }),
  async linkSettings(_db, settings, { creating }) {
    if (!creating) return { settings: {}, notes: [] };
    const { settings: added, issued } = issueCredentials(settings);
    return { settings: added, notes: [], issued };
  },
  describe: (integration, publicUrl) => ({ api_base_url: apiBaseUrl(integration.opaque_id, publicUrl) }),
  webhookUrl: (integration, publicUrl) => apiBaseUrl(integration.opaque_id, publicUrl),
  setupState(integration) {
    const settings = chatbotSettings(integration);
    if (!settings.username || !settings.password_hash) return { ready: false, detail: 'no bot credentials: set --username and --password' };
    return { ready: true, detail: `RapidPro at ${integration.api_url}; the bot signs in as ${settings.username}` };
  },
  setupInstructions: (integration, publicUrl) =>
    [
      `The chatbot's API: ${apiBaseUrl(integration.opaque_id, publicUrl)}`,
      'In the RapidPro flow, get a token with POST token/ ({"username", "password"}) and send each client message',
      'of a handoff with POST chat/ (Authorization: Token <token>); see docs/guides/chatbot-handoff.md.',
      'Create a front_chatbot_channel_app_v1 integration with --depends-on ' + `${integration.id} to bring handoffs into Front.`,
    ].join('\n'),
});
