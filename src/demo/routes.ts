/**
 * The demo's simulator pages, as JSON behind the admin token: a phone (text the helpline,
 * read the SMS it gets back, dial the USSD code and walk its menus, write on WhatsApp and tap
 * the flow's buttons) and Front's inbox (see
 * what was imported, reply as a counsellor). They drive the simulators exactly as the
 * scripted demo does, so whatever is clicked converges through the real engine.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import { z } from 'zod';
import { sendError } from '../http/reply-error.ts';
import { requestBody } from '../http/webhook-request.ts';
import { dial, type UssdSession } from '../simulators/ussd.ts';
import { adminGuard } from '../web/admin-token.ts';
import { DEMO_SUPPORT, SMS_CHANNEL_ID, USSD_CHANNEL_ID, type DemoEnvironment } from './environment.ts';
import type { Engine } from '../engine/engine.ts';

const phoneNumber = z.string().regex(/^\+[1-9]\d{6,14}$/, 'an E.164 number such as +15550002222');
const smsInput = z.object({ from: phoneNumber, body: z.string().min(1).max(1600) });
const ussdInput = z.object({ from: phoneNumber, session: z.string().optional(), input: z.string().max(182).optional() });
const whatsappInput = z.union([
  z.strictObject({ from: phoneNumber, text: z.string().min(1).max(4096) }),
  z.strictObject({ from: phoneNumber, reply: z.strictObject({ kind: z.enum(['button_reply', 'list_reply']), id: z.string().min(1).max(256), title: z.string().min(1).max(72) }) }),
]);
const whatsappThread = z.object({ number: phoneNumber });

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
const replyInput = z.object({ channel: z.enum(['sms', 'ussd']), to: z.array(phoneNumber).min(1).max(10), text: z.string().min(1).max(1600) });

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

  app.get('/inbox', async () => {
    const env = environment()!;
    const messages = env.front.inbox.map((m) => ({
      uid: m.messageUid,
      channel: m.channelId === USSD_CHANNEL_ID ? 'ussd' : 'sms',
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
    const client = channel === 'ussd' ? env.ussdChannel : env.smsChannel;
    const response = await client.message({ channelId: channel === 'ussd' ? USSD_CHANNEL_ID : SMS_CHANNEL_ID, text, to });
    return reply.code(response.status < 300 ? 201 : 502).send(response.json());
  });
};
