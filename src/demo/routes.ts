/**
 * The demo's simulator pages, as JSON behind the admin token: a phone (text the helpline,
 * read the SMS it gets back, dial the USSD code and walk its menus, write on WhatsApp and tap
 * the flow's buttons, talk to the chatbot until it hands over and end the chat from the bot's
 * side) and Front's inbox (see
 * what was imported, reply as a counsellor). They drive the simulators exactly as the
 * scripted demo does, so whatever is clicked converges through the real engine.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import { z } from 'zod';
import { sendError } from '../http/reply-error.ts';
import { requestBody } from '../http/webhook-request.ts';
import { dial, type UssdSession } from '../simulators/ussd.ts';
import { adminGuard } from '../web/admin-token.ts';
import { CHATBOT_CHANNEL_ID, type DemoChatbot } from './chatbot.ts';
import { DEMO_SUPPORT, SMS_CHANNEL_ID, USSD_CHANNEL_ID, WHATSAPP_CHANNEL_ID, type DemoEnvironment } from './environment.ts';
import type { Engine } from '../engine/engine.ts';

const phoneNumber = z.string().regex(/^\+[1-9]\d{6,14}$/, 'an E.164 number such as +15550002222');
const smsInput = z.object({ from: phoneNumber, body: z.string().min(1).max(1600) });
const ussdInput = z.object({ from: phoneNumber, session: z.string().optional(), input: z.string().max(182).optional() });
const whatsappInput = z.union([
  z.strictObject({ from: phoneNumber, text: z.string().min(1).max(4096) }),
  z.strictObject({ from: phoneNumber, reply: z.strictObject({ kind: z.enum(['button_reply', 'list_reply']), id: z.string().min(1).max(256), title: z.string().min(1).max(72) }) }),
]);
const whatsappThread = z.object({ number: phoneNumber });
const chatbotInput = z.strictObject({ from: phoneNumber, text: z.string().min(1).max(4096) });
const chatbotClose = z.strictObject({ from: phoneNumber });

/** A phone number as the chatbot knows it: a RapidPro contact, its chat session and pseudonym. */
interface ChatbotClient {
  contact: string;
  session: string;
  pseudonym: string;
}

/** The parts of a WhatsApp message (ours or the client's) the phone page shows. */
interface GraphChoice {
  id: string;
  title: string;
  description?: string;
}
interface GraphMessage {
  text?: { body?: string };
  interactive?: {
    type?: string;
    body?: { text?: string };
    button_reply?: GraphChoice;
    list_reply?: GraphChoice;
    action?: { button?: string; buttons?: { reply: GraphChoice }[]; sections?: { rows: GraphChoice[] }[] };
  };
}
/** Which of the demo's Front channels a message of the inbox came through (a function: environment.ts imports this module). */
function channelName(channelId: string): 'sms' | 'ussd' | 'whatsapp' | 'chatbot' {
  const names: Record<string, 'ussd' | 'whatsapp' | 'chatbot'> = { [USSD_CHANNEL_ID]: 'ussd', [WHATSAPP_CHANNEL_ID]: 'whatsapp', [CHATBOT_CHANNEL_ID]: 'chatbot' };
  return names[channelId] ?? 'sms';
}

const replyInput = z.discriminatedUnion('channel', [
  z.object({ channel: z.enum(['sms', 'ussd', 'whatsapp']), to: z.array(phoneNumber).min(1).max(10), text: z.string().min(1).max(1600) }),
  // A chatbot conversation is `<chat_session>#<handoff>`, not a number.
  z.object({ channel: z.literal('chatbot'), to: z.array(z.string().min(1).max(300)).length(1), text: z.string().min(1).max(4096) }),
]);

/** The request's body checked against `schema` (a malformed body is refused with 400, another media type with 415). */
function parseInput<T>(schema: z.ZodType<T>, request: FastifyRequest): { ok: true; value: T } | { ok: false; message: string } {
  const parsed = schema.safeParse(requestBody(request).body);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, message: parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ') };
}

export interface DemoRouteOptions {
  engine: Engine;
  /** The environment is complete only after the server listens; routes read it per request. */
  environment(): DemoEnvironment | undefined;
}

export const demoRoutes: FastifyPluginAsync<DemoRouteOptions> = async (app, { engine, environment }) => {
  const ussdSessions = new Map<string, UssdSession>();
  const chatbotClients = new Map<string, ChatbotClient>();
  // Numbered in order of first use, so neither the number nor a random id reaches Front (the
  // bot sends the pseudonym as sender) and a page looks the same on every run.
  const chatbotClient = (chatbot: DemoChatbot, number: string): ChatbotClient => {
    let client = chatbotClients.get(number);
    if (!client) {
      const n = chatbotClients.size + 1;
      const contact = chatbot.rapidpro.addContact({ urn: `tel:${number}`, name: `Client ${n}` }).uuid;
      client = { contact, session: `phone-chat-${n}`, pseudonym: `Client ${n}` };
      chatbotClients.set(number, client);
    }
    return client;
  };
  /** The environment's chatbot, or a 404 sent when it runs without one. */
  const chatbotOf = (reply: FastifyReply): DemoChatbot | null => {
    const chatbot = environment()!.chatbot;
    if (!chatbot) void sendError(reply, 'SB_ERR_NOT_FOUND', 'this demo runs without a chatbot');
    return chatbot;
  };
  app.addHook('preHandler', adminGuard(engine.db, engine.config.adminToken));
  app.addHook('preHandler', async (_request, reply) => {
    if (!environment()) return sendError(reply, 'SB_ERR_DATABASE_UNAVAILABLE', 'the demo is still starting');
  });

  app.get('/phone', async () => {
    const env = environment()!;
    const messages = env.signalwire.messages().map((m) => ({
      sid: m.sid,
      from: m.from,
      to: m.to,
      body: m.body,
      status: m.status,
      at: m.date_created,
    }));
    return { helpline: DEMO_SUPPORT, ussd_code: '*384*1234#', messages: messages.reverse() };
  });

  app.post('/phone/sms', async (request, reply) => {
    const input = parseInput(smsInput, request);
    if (!input.ok) return sendError(reply, 'SB_ERR_INVALID_PAYLOAD', input.message);
    const env = environment()!;
    const { message } = await env.signalwire.receiveInbound({ from: input.value.from, to: DEMO_SUPPORT, body: input.value.body }, env.signalwireHook);
    return reply.code(201).send({ sid: message.sid });
  });

  app.post('/phone/ussd', async (request, reply) => {
    const input = parseInput(ussdInput, request);
    if (!input.ok) return sendError(reply, 'SB_ERR_INVALID_PAYLOAD', input.message);
    const env = environment()!;
    const { from, session: id, input: typed } = input.value;
    let session: UssdSession;
    let screen;
    if (id) {
      const found = ussdSessions.get(id);
      if (!found || found.ended) return sendError(reply, 'SB_ERR_NOT_FOUND', 'no such USSD session (it ended); dial again');
      session = found;
      ({ screen } = await session.send(typed ?? ''));
    } else {
      ({ session, first: { screen } } = await dial(`${env.publicUrl}/v1/ussd/africastalking/${env.ussd.opaque_id}`, { gateway: 'africastalking', msisdn: from }));
      ussdSessions.set(session.sessionId, session);
    }
    if (session.ended) ussdSessions.delete(session.sessionId);
    return { session: session.sessionId, text: screen.text, ended: screen.end };
  });

  // WhatsApp: what this phone wrote (the rows stored) and what the helpline sent it (the simulator's sends), in time order.
  app.get('/phone/whatsapp', async (request, reply) => {
    const query = whatsappThread.safeParse(request.query);
    if (!query.success) return sendError(reply, 'SB_ERR_INVALID_PAYLOAD', 'number: an E.164 number such as +15550002222');
    const env = environment()!;
    const to = query.data.number.slice(1);
    const { rows } = await sql<{ wamid: string; message: GraphMessage; at: Date }>`
      SELECT wamid, data->'message' AS message, row_created_at AS at FROM whatsapp_message_v1
      WHERE integration_id = ${env.wa.id} AND direction = 'inbound' AND "from" = ${to} ORDER BY pk`.execute(engine.db);
    const written = rows.map(({ wamid, message, at }) => {
      const picked = message.interactive?.button_reply ?? message.interactive?.list_reply;
      return { id: wamid, from: 'client', text: picked?.title ?? message.text?.body ?? null, at: at.toISOString() };
    });
    const sends = env.whatsapp.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/messages') && (r.body as { to?: string } | null)?.to === to);
    const received = sends.map((r, i) => {
      const { text, interactive } = r.body as GraphMessage;
      const action = interactive?.action;
      return {
        id: `sent-${i}`,
        from: 'helpline',
        text: text?.body ?? interactive?.body?.text ?? null,
        ...(interactive?.type === 'button' ? { buttons: (action?.buttons ?? []).map((b) => ({ kind: 'button_reply', ...b.reply })) } : {}),
        ...(interactive?.type === 'list'
          ? { list: { button: action?.button ?? '', rows: (action?.sections ?? []).flatMap((section) => section.rows).map((row) => ({ kind: 'list_reply', ...row })) } }
          : {}),
        at: r.at.toISOString(),
      };
    });
    return { helpline: `+${env.whatsapp.displayPhoneNumber}`, messages: [...written, ...received].sort((a, b) => a.at.localeCompare(b.at)) };
  });

  app.post('/phone/whatsapp', async (request, reply) => {
    const input = parseInput(whatsappInput, request);
    if (!input.ok) return sendError(reply, 'SB_ERR_INVALID_PAYLOAD', input.message);
    const env = environment()!;
    const from = input.value.from.slice(1);
    const sent =
      'text' in input.value
        ? await env.whatsapp.receiveInbound({ from, type: 'text', fields: { text: { body: input.value.text } } }, env.whatsappHook)
        : await env.whatsapp.receiveInbound(
            { from, type: 'interactive', fields: { interactive: { type: input.value.reply.kind, [input.value.reply.kind]: { id: input.value.reply.id, title: input.value.reply.title } } } },
            env.whatsappHook,
          );
    return reply.code(sent.status < 300 ? 201 : 502).send({ wamid: sent.message.id });
  });

  // Chatbot: the client talks to the bot (the simulator's bot driver), which hands every message
  // over to Switchboard as a flow's webhook would; counsellor replies are what RapidPro was asked to send the contact.
  app.get('/phone/chatbot', async (request, reply) => {
    const query = whatsappThread.safeParse(request.query);
    if (!query.success) return sendError(reply, 'SB_ERR_INVALID_PAYLOAD', 'number: an E.164 number such as +15550002222');
    const chatbot = chatbotOf(reply);
    if (!chatbot) return reply;
    const client = chatbotClients.get(query.data.number);
    if (!client) return { session: null, handoff: null, messages: [] };
    const { contact, session } = client;
    const messages = chatbot.rapidpro
      .messages()
      .filter((m) => m.contact.uuid === contact)
      .reverse()
      .map((m) => ({ id: m.uuid, from: m.direction === 'in' ? 'client' : 'helpline', text: m.text, status: m.direction === 'out' ? m.status : null, at: m.created_on }));
    const { rows } = await sql<{ handoff: number; status: 'open' | 'closed'; closed_by: string | null }>`
      SELECT handoff, status, closed_by FROM chatbot_handoffs WHERE chat_session = ${session} ORDER BY handoff DESC LIMIT 1`.execute(engine.db);
    return { session, handoff: rows[0] ?? null, messages };
  });

  app.post('/phone/chatbot', async (request, reply) => {
    const input = parseInput(chatbotInput, request);
    if (!input.ok) return sendError(reply, 'SB_ERR_INVALID_PAYLOAD', input.message);
    const chatbot = chatbotOf(reply);
    if (!chatbot) return reply;
    const { contact, session, pseudonym } = chatbotClient(chatbot, input.value.from);
    const { message, call } = await chatbot.bot.say({ contact, session, pseudonym, sender: pseudonym, text: input.value.text });
    return reply.code(call.status === 200 ? 201 : 502).send({ message_id: message.uuid, answer: call.response });
  });

  app.post('/phone/chatbot/close', async (request, reply) => {
    const input = parseInput(chatbotClose, request);
    if (!input.ok) return sendError(reply, 'SB_ERR_INVALID_PAYLOAD', input.message);
    const chatbot = chatbotOf(reply);
    if (!chatbot) return reply;
    const client = chatbotClients.get(input.value.from);
    const call = client ? await chatbot.bot.close(client.session) : null;
    if (!call || call.status === 404) return sendError(reply, 'SB_ERR_NOT_FOUND', 'no chat with the helpline from this number yet');
    return reply.code(call.status === 200 ? 200 : 502).send({ answer: call.response });
  });

  app.get('/inbox', async () => {
    const env = environment()!;
    const messages = env.front.inbox.map((m) => ({
      uid: m.messageUid,
      channel: channelName(m.channelId),
      conversation: m.externalConversationId,
      from: m.senderHandle,
      body: m.body,
      at: m.at,
    }));
    return { messages: messages.reverse() };
  });

  app.post('/inbox/reply', async (request, reply) => {
    const input = parseInput(replyInput, request);
    if (!input.ok) return sendError(reply, 'SB_ERR_INVALID_PAYLOAD', input.message);
    const env = environment()!;
    const { channel, to, text } = input.value;
    const chatbot = channel === 'chatbot' ? chatbotOf(reply) : null;
    if (channel === 'chatbot' && !chatbot) return reply;
    // A reply goes out on the conversation's own channel: a WhatsApp client's number must not get an SMS.
    if (channel === 'whatsapp' && !env.whatsappChannel) return sendError(reply, 'SB_ERR_NOT_FOUND', 'this demo runs without the Front WhatsApp channel');
    const [client, channelId] = chatbot
      ? [chatbot.front, CHATBOT_CHANNEL_ID]
      : channel === 'whatsapp'
        ? [env.whatsappChannel!, WHATSAPP_CHANNEL_ID]
        : channel === 'ussd'
          ? [env.ussdChannel, USSD_CHANNEL_ID]
          : [env.smsChannel, SMS_CHANNEL_ID];
    const response = await client.message({ channelId, text, to });
    return reply.code(response.status < 300 ? 201 : 502).send(response.json());
  });
};
