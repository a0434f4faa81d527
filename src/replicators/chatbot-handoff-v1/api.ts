/**
 * The chatbot-facing API (seed 003's, extended; docs/guides/chatbot-handoff.md) under
 * /v1/chatbot/<opaque id>/: `POST token/`, then with `Authorization: Token <t>`
 * `POST chat/`, `GET chat/`, `POST chat/<session>/close/`, `POST chat/<session>/ack/`.
 *
 * A state-changing request is stored raw (a chatbot_handoff_v1 row, with the answer it
 * got) in the transaction that also hands it to the Front channel, before it is answered.
 * A repeat — the same message_id, or the same session and body within REPEAT_WINDOW_S
 * when the bot sends no id — finds that row and gets the same answer, so a bot may
 * retry anything. One session's requests run one at a time (handoffs.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { sql, type Kysely } from 'kysely';
import type { Database, ServiceIntegration } from '../../db/schema.ts';
import { invalidPayload, SwitchboardError } from '../../engine/errors.ts';
import type { Engine } from '../../engine/engine.ts';
import { ingestRows } from '../../engine/ingest.ts';
import { findByOpaqueId } from '../../engine/integrations.ts';
import type { RowInput } from '../../engine/replicator.ts';
import { requestBody } from '../../http/webhook-request.ts';
import { conversationIdOf, endHandoff, handoffForMessage, latestHandoff, lockSession } from './handoffs.ts';
import { attemptSucceeded, beginAttempt } from './login-limit.ts';
import { chatbotSettings, passwordMatches } from './settings.ts';

export const CHATBOT_HANDOFF = 'chatbot_handoff_v1';
/** A repeat of a message the bot sent without message_id is one with the same session and body this recent. */
export const REPEAT_WINDOW_S = 120;
export const ACK_STATUSES = ['delivered', 'read', 'failed'] as const;
const MAX_TEXT = 10_000;
const MAX_ID = 200;

const unauthorized = (message: string) => new SwitchboardError('SB_ERR_UNAUTHORIZED', message);
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** A string field (numbers accepted as text, as the seed's example sends ids); null when absent and optional. */
function field(body: Record<string, unknown>, name: string, options: { required: boolean; max?: number }): string | null {
  const value = body[name];
  if (value === undefined || value === null || value === '') {
    if (options.required) throw invalidPayload(`${name} is required`);
    return null;
  }
  if (typeof value !== 'string' && !(typeof value === 'number' && Number.isFinite(value))) throw invalidPayload(`${name} must be a string`);
  const text = String(value);
  if (text.length > (options.max ?? MAX_ID)) throw invalidPayload(`${name} is longer than ${options.max ?? MAX_ID} characters`);
  return text;
}

function objectBody(request: FastifyRequest): { body: Record<string, unknown>; raw: string; contentType: string } {
  const { raw, contentType, body } = requestBody(request);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalidPayload('the body must be a JSON object');
  return { body: body as Record<string, unknown>, raw: raw.toString('utf8'), contentType };
}

/**
 * The close/ body is optional and the seed sends JSON as plain text: any content type,
 * read as JSON when it parses, kept raw either way.
 */
function looseBody(request: FastifyRequest): { body: Record<string, unknown>; raw: string; contentType: string } {
  const raw = Buffer.isBuffer(request.body) ? request.body.toString('utf8') : '';
  const contentType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  let body: unknown = null;
  try {
    body = raw.trim() ? JSON.parse(raw) : null;
  } catch {
    // Not JSON: the raw text is all there is, and it is stored.
  }
  return { body: typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {}, raw, contentType };
}

async function integrationOf(engine: Engine, opaqueId: string): Promise<ServiceIntegration> {
  const integration = /^svi_[0-9a-z]{1,40}$/.test(opaqueId) ? await findByOpaqueId(engine.db, opaqueId) : undefined;
  if (!integration || integration.service_name !== CHATBOT_HANDOFF) throw new SwitchboardError('SB_ERR_NOT_FOUND', 'no chatbot handoff integration with that id');
  return integration;
}

/** The integration whose unexpired token the request carries, else 401. */
async function authenticated(engine: Engine, request: FastifyRequest<{ Params: { opaque_id: string } }>): Promise<ServiceIntegration> {
  const integration = await integrationOf(engine, request.params.opaque_id);
  request.webhookLog = { integrationId: integration.id, reason: null };
  const header = request.headers.authorization;
  if (!header) throw unauthorized('Missing Authorization header; send Authorization: Token <token from POST token/>');
  const match = /^Token\s+(\S+)$/i.exec(header.trim());
  if (!match) throw unauthorized('Expected Authorization: Token <token>');
  const { rows } = await sql`
    SELECT 1 FROM chatbot_tokens WHERE token_hash = ${sha256(match[1]!)} AND integration_id = ${integration.id} AND expires_at > now()`.execute(engine.db);
  if (rows.length === 0) throw unauthorized('Invalid or expired token; get a new one from POST token/');
  request.webhookLog.authenticated = true;
  return integration;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

/** A stored request's answer, for a repeat. */
async function storedAnswer(db: Kysely<Database>, integrationId: number, where: ReturnType<typeof sql>): Promise<Answer | null> {
  const { rows } = await sql<{ response_status: number; response_body: string }>`
    SELECT response_status, response_body FROM chatbot_handoff_v1 WHERE integration_id = ${integrationId} AND ${where}
    ORDER BY pk LIMIT 1`.execute(db);
  const row = rows[0];
  return row ? { status: row.response_status, body: JSON.parse(row.response_body) as Record<string, unknown> } : null;
}

/** Store the request with its answer (and hand it to the dependents, in `trx`); the answer. */
async function store(engine: Engine, trx: Kysely<Database>, integration: ServiceIntegration, row: RowInput, answer: Answer): Promise<Answer> {
  const columns = { ...row.columns, response_status: answer.status, response_body: JSON.stringify(answer.body) };
  await ingestRows(engine, integration, [{ key: row.key, columns, data: row.data }], { origin: 'webhook', db: trx });
  return answer;
}

const send = (reply: FastifyReply, answer: Answer) => reply.code(answer.status).headers(answer.headers ?? {}).type('application/json').send(answer.body);

/** `POST chat/`: a client's message, into the session's open handoff (opened when none is). */
async function postChat(engine: Engine, integration: ServiceIntegration, request: FastifyRequest): Promise<Answer> {
  const { body, raw, contentType } = objectBody(request);
  const session = field(body, 'chat_session', { required: true })!;
  const text = field(body, 'chat_message', { required: true, max: MAX_TEXT })!;
  const sender = field(body, 'chat_sender', { required: true })!;
  const receiver = field(body, 'chat_receiver', { required: false });
  const source = field(body, 'chat_source', { required: false });
  const messageId = field(body, 'message_id', { required: false });
  const contact = field(body, 'contact', { required: false });
  const pseudonym = field(body, 'pseudonym', { required: false }) ?? sender;
  const bodyHash = sha256(text);
  return engine.db.transaction().execute(async (trx) => {
    await lockSession(trx, integration.id, session);
    const repeat = messageId
      ? await storedAnswer(trx, integration.id, sql`request_key = ${`chat:${session}:${messageId}`}`)
      : await storedAnswer(
          trx,
          integration.id,
          // A message polled meanwhile counts: its webhook came late.
          sql`kind = 'chat' AND chat_session = ${session} AND body_hash = ${bodyHash} AND (message_id IS NULL OR data->>'source' = 'poll')
              AND row_created_at > now() - make_interval(secs => ${REPEAT_WINDOW_S})`,
        );
    if (repeat) return repeat;
    const { handoff, opened } = await handoffForMessage(trx, integration.id, { session, contact, pseudonym });
    const key = messageId ? `chat:${session}:${messageId}` : `chat:${session}:${randomBytes(9).toString('base64url')}`;
    const row: RowInput = {
      key,
      columns: { kind: 'chat', chat_session: session, handoff: handoff.handoff, message_id: messageId, contact: handoff.contact, pseudonym, body: text, body_hash: bodyHash },
      data: { raw_body: raw, content_type: contentType, chat_sender: sender, chat_receiver: receiver, chat_source: source, opened_handoff: opened },
    };
    const answer = {
      status: 200,
      body: { status: 'received', chat_session: session, handoff: handoff.handoff, conversation_id: conversationIdOf(session, handoff.handoff), message_id: messageId, opened },
    };
    return store(engine, trx, integration, row, answer);
  });
}

/** `POST chat/<session>/close/`: the bot ends the handoff (closing a closed one answers how it was closed). */
async function postClose(engine: Engine, integration: ServiceIntegration, session: string, request: FastifyRequest): Promise<Answer> {
  const { body, raw, contentType } = looseBody(request);
  return engine.db.transaction().execute(async (trx) => {
    await lockSession(trx, integration.id, session);
    const latest = await latestHandoff(trx, integration.id, session);
    if (!latest) throw new SwitchboardError('SB_ERR_NOT_FOUND', `no chat session ${JSON.stringify(session)}`);
    const key = `close:${session}:${latest.handoff}`;
    const repeat = await storedAnswer(trx, integration.id, sql`request_key = ${key}`);
    if (repeat) return repeat;
    const chatSource = typeof body.chat_source === 'string' ? body.chat_source : null;
    await endHandoff(engine, trx, integration, latest, 'bot', { raw_body: raw, content_type: contentType, chat_source: chatSource });
    return (await storedAnswer(trx, integration.id, sql`request_key = ${key}`))!;
  });
}

/** `POST chat/<session>/ack/`: the bot's receipt of a counsellor's reply (its RapidPro message uuid). */
async function postAck(engine: Engine, integration: ServiceIntegration, session: string, request: FastifyRequest): Promise<Answer> {
  const { body, raw, contentType } = objectBody(request);
  const messageId = field(body, 'message_id', { required: true })!;
  const status = field(body, 'status', { required: true })!;
  if (!(ACK_STATUSES as readonly string[]).includes(status)) throw invalidPayload(`status must be one of ${ACK_STATUSES.join(', ')}`);
  return engine.db.transaction().execute(async (trx) => {
    await lockSession(trx, integration.id, session);
    const latest = await latestHandoff(trx, integration.id, session);
    if (!latest) throw new SwitchboardError('SB_ERR_NOT_FOUND', `no chat session ${JSON.stringify(session)}`);
    const key = `ack:${session}:${messageId}:${status}`;
    const repeat = await storedAnswer(trx, integration.id, sql`request_key = ${key}`);
    if (repeat) return repeat;
    const row: RowInput = {
      key,
      columns: { kind: 'ack', chat_session: session, handoff: latest.handoff, message_id: messageId, ack_status: status },
      data: { raw_body: raw, content_type: contentType },
    };
    return store(engine, trx, integration, row, { status: 200, body: { status: 'received', chat_session: session, message_id: messageId, ack: status } });
  });
}

/** `GET chat/`: the integration's handoffs, latest activity first. */
async function listChats(engine: Engine, integration: ServiceIntegration): Promise<Answer> {
  const { rows } = await sql<Record<string, unknown>>`
    SELECT chat_session, handoff, status, closed_by, pseudonym, opened_at, last_message_at, closed_at
    FROM chatbot_handoffs WHERE integration_id = ${integration.id}
    ORDER BY last_message_at DESC LIMIT 500`.execute(engine.db);
  return {
    status: 200,
    body: { chats: rows.map((r) => ({ ...r, conversation_id: conversationIdOf(String(r.chat_session), Number(r.handoff)) })) },
  };
}

/**
 * `POST token/`: a time-bound token for the bot's username and password, within the
 * guessing limits of login-limit.ts. Not logged: the body holds the password.
 */
async function postToken(engine: Engine, integration: ServiceIntegration, request: FastifyRequest): Promise<Answer> {
  const { body } = objectBody(request);
  const username = field(body, 'username', { required: true })!;
  const password = field(body, 'password', { required: true })!;
  const settings = chatbotSettings(integration);
  const windowSeconds = engine.config.chatbotLoginWindowSeconds;
  const attempt = await beginAttempt(engine.db, integration.id, request.ip, windowSeconds);
  if (!attempt.allowed) {
    const who = attempt.scope === 'address' ? 'from this address' : 'for this integration';
    const message = `too many wrong usernames or passwords ${who}: try again in ${attempt.retryAfterSeconds} s`;
    return { status: 429, body: { error: { code: 'SB_ERR_RATE_LIMITED', message } }, headers: { 'retry-after': String(attempt.retryAfterSeconds) } };
  }
  // Both checked always: the answer's time does not tell which one was wrong.
  const passwordOk = await passwordMatches(password, settings.password_hash);
  if (!passwordOk || username !== settings.username) {
    if (attempt.reaches) {
      // Neither the username nor the password tried: the address and the integration say enough.
      engine.log.warn({ integration_id: integration.id, address: request.ip, limit: attempt.reaches, window_s: windowSeconds }, 'chatbot token/: wrong credentials locked out until the window ends');
    }
    throw unauthorized('wrong username or password');
  }
  await attemptSucceeded(engine.db, integration.id, request.ip);
  const token = randomBytes(24).toString('base64url');
  const { rows } = await sql<{ expires_at: Date }>`
    WITH expired AS (DELETE FROM chatbot_tokens WHERE integration_id = ${integration.id} AND expires_at < now())
    INSERT INTO chatbot_tokens (token_hash, integration_id, expires_at)
    VALUES (${sha256(token)}, ${integration.id}, now() + make_interval(secs => ${settings.token_ttl}))
    RETURNING expires_at`.execute(engine.db);
  return { status: 200, body: { token, expires_at: rows[0]!.expires_at.toISOString() } };
}

type Params = { opaque_id: string; session: string };

export const chatbotRoutes: FastifyPluginAsync<{ engine: Engine }> = async (app, { engine }) => {
  const base = '/v1/chatbot/:opaque_id';
  // Bots differ on trailing slashes; the seed's paths have them.
  for (const slash of ['/', '']) {
    app.post<{ Params: Params }>(`${base}/token${slash}`, async (request, reply) =>
      send(reply, await postToken(engine, await integrationOf(engine, request.params.opaque_id), request)),
    );
    app.get<{ Params: Params }>(`${base}/chat${slash}`, async (request, reply) => send(reply, await listChats(engine, await authenticated(engine, request))));
    app.post<{ Params: Params }>(`${base}/chat${slash}`, async (request, reply) => send(reply, await postChat(engine, await authenticated(engine, request), request)));
    app.post<{ Params: Params }>(`${base}/chat/:session/close${slash}`, async (request, reply) =>
      send(reply, await postClose(engine, await authenticated(engine, request), sessionParam(request.params.session), request)),
    );
    app.post<{ Params: Params }>(`${base}/chat/:session/ack${slash}`, async (request, reply) =>
      send(reply, await postAck(engine, await authenticated(engine, request), sessionParam(request.params.session), request)),
    );
  }
};

function sessionParam(session: string): string {
  if (!session || session.length > MAX_ID) throw invalidPayload(`chat_session (in the path) must be 1 to ${MAX_ID} characters`);
  return session;
}
