/**
 * `POST /v1/install/front_chatbot/events`: Front's application webhook events, for the one
 * thing a channel never hears — a counsellor archiving the conversation (reference §7).
 * Verified like channel requests: HMAC-SHA256 of `<timestamp>:<body>` with the app secret,
 * timestamp within Front's window (forged or stale → 401); Front's `x-front-challenge` at
 * setup is echoed once verified. An `archive` of a handoff's conversation (its recipient
 * handle is the conversation id `<session>#<handoff>`) ends that handoff as the counsellor's
 * doing: the bot is told by the handoff integration's next pass (bot-actions.ts). Other
 * events are acknowledged and ignored. An event that never comes is made up for by polling
 * the conversation's status (archives.ts).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ServiceIntegration } from '../../db/schema.ts';
import { SwitchboardError } from '../../engine/errors.ts';
import type { Engine } from '../../engine/engine.ts';
import { verifyFrontSignature } from '../../providers/front/signature.ts';
import { toWebhookRequest } from '../../http/webhook-request.ts';
import { CHATBOT_HANDOFF } from '../chatbot-handoff-v1/api.ts';
import { endHandoff, latestHandoff, lockSession } from '../chatbot-handoff-v1/handoffs.ts';

export const CHATBOT_EVENTS_PATH = '/v1/install/front_chatbot/events';

interface FrontEvent {
  type?: unknown;
  payload?: { type?: unknown; conversation?: { id?: unknown; recipient?: { handle?: unknown } | null } | null } | null;
}

/** The handoff conversation an event is about, if any. */
function conversationOf(event: FrontEvent): string | null {
  const handle = event.payload?.conversation?.recipient?.handle;
  return typeof handle === 'string' && /#\d+$/.test(handle) ? handle : null;
}

/**
 * A counsellor archived the conversation of `session`'s handoff `number`: end it, if still
 * open, as the counsellor's doing (in its own transaction, the session locked). Whether this
 * call ended it: the event and the status polling (archives.ts) may both learn of one archive.
 */
export async function endArchived(engine: Engine, integration: ServiceIntegration, session: string, number: number, data: Record<string, unknown>): Promise<boolean> {
  return engine.db.transaction().execute(async (trx) => {
    await lockSession(trx, integration.id, session);
    const handoff = await latestHandoff(trx, integration.id, session);
    if (handoff?.handoff !== number || handoff.status !== 'open') return false;
    return endHandoff(engine, trx, integration, handoff, 'counsellor', data);
  });
}

/** End the open handoff with this conversation id in every chatbot integration that has it. */
async function archived(engine: Engine, conversation: string, frontConversationId: string | null): Promise<number> {
  const at = conversation.lastIndexOf('#');
  const session = conversation.slice(0, at);
  const number = Number(conversation.slice(at + 1));
  const integrations = (await engine.db.selectFrom('service_integrations').selectAll().where('service_name', '=', CHATBOT_HANDOFF).execute()) as ServiceIntegration[];
  let ended = 0;
  for (const integration of integrations) {
    if (await endArchived(engine, integration, session, number, { front_conversation_id: frontConversationId })) ended++;
  }
  return ended;
}

export const chatbotEventRoutes: FastifyPluginAsync<{ engine: Engine }> = async (app, { engine }) => {
  app.post(CHATBOT_EVENTS_PATH, async (request, reply) => {
    request.webhookLog = { integrationId: null, reason: null };
    const webhook = toWebhookRequest(request, engine.config.publicUrl);
    const secret = engine.config.front.appSecret;
    if (!secret) throw new SwitchboardError('SB_ERR_UNAUTHORIZED', 'channel app secret not configured');
    const verification = verifyFrontSignature(secret, webhook.headers, webhook.rawBody.toString('utf8'), false);
    if (!verification.ok) throw new SwitchboardError('SB_ERR_UNAUTHORIZED', verification.reason);
    request.webhookLog.authenticated = true;
    const challenge = webhook.headers['x-front-challenge'];
    if (challenge) return reply.code(200).type('text/plain').send(challenge);
    const event = (webhook.body ?? {}) as FrontEvent;
    const type = event.type ?? event.payload?.type;
    const conversation = type === 'archive' ? conversationOf(event) : null;
    const frontId = typeof event.payload?.conversation?.id === 'string' ? event.payload.conversation.id : null;
    const ended = conversation ? await archived(engine, conversation, frontId) : 0;
    if (ended > 0) request.log.info({ ended }, 'handoff ended in Front');
    return reply.code(200).type('application/json').send('{}');
  });
};

