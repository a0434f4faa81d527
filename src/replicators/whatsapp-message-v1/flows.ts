/**
 * Flows over WhatsApp: the `whatsapp_message_v1` integration's pass when it has a flow
 * (`--flow`, the documents USSD uses). Its inbound rows arrive undecided (routed_to NULL);
 * the pass decides each one, once, in order per client, under the client's session lock:
 *
 * - a client with an open handoff: the message goes to Front (routed_to 'front');
 * - otherwise the message walks the flow (ussd/flow/chat.ts) and the reply is queued in
 *   `whatsapp_flow_steps` in the same transaction. A message that picked a menu choice is
 *   the flow's ('flow'); anything else the client wrote is kept undecided until the session
 *   ends, then goes to Front — nothing a client writes is lost, as with USSD's typed message;
 * - the flow's handoff screen (an end screen with `submit_message`) opens the handoff: what
 *   the client wrote goes to Front, and so does every later message until the conversation has
 *   been idle for `--handoff-idle` minutes (the client's messages, our sends' receipts and
 *   counsellors' replies' receipts count); the next message then starts the flow again.
 *
 * Routing re-upserts the row through the engine, so the Front WhatsApp channel (a dependent)
 * is told. Replies go out after their step commits, each once: `send_started_at` is committed
 * first and the send runs in `onceEver`; an attempt whose answer was lost is looked for in the
 * status receipts (they carry our `biz_opaque_callback_data`) and resent only after
 * UNKNOWN_SEND_HOLD_S without one. Sessions are durable by number (`ussd_sessions`, gateway
 * 'whatsapp', keyed by a hash of the number) and closed by the USSD sweeper after their idle time.
 */
import { sql, type Kysely } from 'kysely';
import type { Database, ServiceIntegration } from '../../db/schema.ts';
import { enqueueBackfill } from '../../engine/backfill-queue.ts';
import type { Engine } from '../../engine/engine.ts';
import { ingestRows } from '../../engine/ingest.ts';
import { onceEver } from '../../engine/idempotency.ts';
import type { BackfillContext, FieldSpec } from '../../engine/replicator.ts';
import { ProviderHttpError } from '../../providers/http.ts';
import type { WhatsAppClient } from '../../providers/whatsapp/client.ts';
import { continueChat, startChat, type ChatInput, type ChatStep } from '../../ussd/flow/chat.ts';
import { parseFlow, type Flow, type FlowSession } from '../../ussd/flow/engine.ts';
import { readFlowFile } from '../../ussd/flow/file.ts';
import { hashIdentifier, lockSession, sessionIdFor } from '../ussd-request-v1/sessions.ts';

/** Like conversation_sessions' 30-minute silence: a client back after that starts the flow again. */
export const DEFAULT_HANDOFF_IDLE_MINUTES = 30;
/** How long a send whose answer was lost waits for its status receipt before it is sent again. */
export const UNKNOWN_SEND_HOLD_S = 300;
/** The session model's gateway for WhatsApp sessions. */
const GATEWAY = 'whatsapp';
/** Message types that only pick (buttons, list rows, template buttons) or react: never content for Front on their own. */
const PICKS = new Set(['interactive', 'button', 'reaction']);

export const FLOW_FIELDS: readonly FieldSpec[] = [
  {
    flag: 'flow',
    target: { setting: 'flow' },
    description: 'a flow document (JSON or YAML, as for USSD) each client walks through before their messages go to Front',
    parse: readFlowFile,
  },
  {
    flag: 'handoff-idle',
    target: { setting: 'handoff_idle' },
    description: `minutes of silence after which a handed-off conversation closes and the next message starts the flow again (default ${DEFAULT_HANDOFF_IDLE_MINUTES})`,
    parse: (value) => {
      if (!/^\d{1,6}$/.test(value) || Number(value) <= 0) throw new Error('a positive whole number of minutes');
      return value;
    },
  },
];

const parsed = new Map<string, Flow>();

/** The integration's flow, or null: without one every inbound message goes to Front. Parsed once per document. */
export function flowOf(integration: ServiceIntegration): Flow | null {
  const document = integration.settings.flow;
  if (typeof document !== 'string' || document === '') return null;
  let flow = parsed.get(document);
  if (!flow) {
    if (parsed.size >= 100) parsed.clear();
    flow = parseFlow(JSON.parse(document));
    parsed.set(document, flow);
  }
  return flow;
}

const idleSecondsOf = (integration: ServiceIntegration) => {
  const minutes = Number(integration.settings.handoff_idle);
  return (Number.isInteger(minutes) && minutes > 0 ? minutes : DEFAULT_HANDOFF_IDLE_MINUTES) * 60;
};

/** What a session holds between messages. */
interface ChatState {
  flow: FlowSession | null;
  handoff: boolean;
}

interface Pass {
  engine: Engine;
  integration: ServiceIntegration;
  flow: Flow;
  client: WhatsAppClient;
  idleSeconds: number;
}

/**
 * A session id per client: flow_chat's durable WhatsApp sessions. The hash keeps numbers out of
 * ids and logs (the rows themselves hold them); it is keyed by the opaque id, which, unlike the
 * secrets, survives `integrations reset`, so an open handoff does too.
 */
const sessionOf = (integration: ServiceIntegration, client: string) =>
  sessionIdFor({ flow: 'flow', platform: 'whatsapp', gateway: GATEWAY, url: 'http://whatsapp', identifier: client }, ['flow', 'platform'], integration.opaque_id);

/** The pass: undecided messages decided, replies sent. Without a flow, undecided messages (a flow removed) go to Front. */
export async function runFlowPass(ctx: BackfillContext, client: WhatsAppClient): Promise<void> {
  const { engine, integration } = ctx;
  const flow = flowOf(integration);
  if (!flow) {
    const { rows } = await sql<{ wamid: string }>`
      SELECT wamid FROM whatsapp_message_v1 WHERE integration_id = ${integration.id} AND direction = 'inbound' AND routed_to IS NULL ORDER BY pk`.execute(engine.db);
    if (rows.length > 0) await engine.db.transaction().execute((trx) => route(engine, trx, integration, rows.map((r) => r.wamid), 'front'));
    return;
  }
  const pass: Pass = { engine, integration, flow, client, idleSeconds: idleSecondsOf(integration) };
  await keepHandoffsAwake(pass, ctx.lastBackfilledAt);
  const { rows: clients } = await sql<{ client: string }>`
    SELECT m."from" AS client, min(m.pk) AS first FROM whatsapp_message_v1 m
    WHERE m.integration_id = ${integration.id} AND m.direction = 'inbound' AND m.routed_to IS NULL AND m."from" IS NOT NULL
    GROUP BY m."from"
    UNION ALL
    SELECT recipient, min(pk) FROM whatsapp_flow_steps
    WHERE integration_id = ${integration.id} AND reply IS NOT NULL AND sent_wamid IS NULL AND error_code IS NULL
    GROUP BY recipient
    ORDER BY first`.execute(engine.db);
  let holdUntil: number | null = null;
  for (const client of new Set(clients.map((c) => c.client))) {
    while (await engine.db.transaction().execute((trx) => decideNext(pass, trx, client)));
    const held = await sendReplies(pass, client);
    if (held !== null) holdUntil = Math.min(holdUntil ?? held, held);
  }
  // A held send needs a pass after its hold even if no receipt ever comes.
  if (holdUntil !== null) {
    const delaySeconds = Math.max(1, Math.ceil((holdUntil - Date.now()) / 1000));
    await enqueueBackfill(engine.db, [{ integration_id: integration.id, incremental: true, recursive: false, trigger: 'whatsapp-flow-hold' }], { delaySeconds });
  }
}

/** Receipts of messages to a client (a counsellor's replies, our own) since the last pass count as activity of an open session. */
async function keepHandoffsAwake(pass: Pass, since: Date | null): Promise<void> {
  const { engine, integration } = pass;
  const { rows } = await sql<{ client: string; at: Date }>`
    SELECT "to" AS client, max("timestamp") AS at FROM whatsapp_message_v1
    WHERE integration_id = ${integration.id} AND direction = 'outbound' AND "to" IS NOT NULL AND "timestamp" IS NOT NULL
      AND row_updated_at >= ${since ?? new Date(0)}
    GROUP BY "to"`.execute(engine.db);
  for (const { client, at } of rows) {
    await sql`UPDATE ussd_sessions SET last_hop_at = greatest(last_hop_at, least(${at}::timestamptz, now()))
      WHERE id = ${sessionOf(integration, client)} AND status = 'open'`.execute(engine.db);
  }
}

interface Inbound {
  wamid: string;
  type: string | null;
  message: Record<string, unknown>;
}

/** One message of the client decided, in the client's session lock; false when none was left. */
async function decideNext(pass: Pass, trx: Kysely<Database>, client: string): Promise<boolean> {
  const { engine, integration, flow } = pass;
  const sessionId = sessionOf(integration, client);
  const session = await lockSession(trx, { id: sessionId, integrationId: integration.id, gateway: GATEWAY, msisdnHash: hashIdentifier(integration.opaque_id, client) });
  const { rows: live } = await sql<{ live: boolean }>`
    SELECT status = 'open' AND last_hop_at >= now() - make_interval(secs => ${pass.idleSeconds}) AS live FROM ussd_sessions WHERE id = ${sessionId}`.execute(trx);
  const state = live[0]?.live ? (session.state as ChatState | null) : null;
  // A session that ended (idle, swept) leaves what the client wrote to Front.
  if (!state) await route(engine, trx, integration, await heldFor(trx, integration, client), 'front');

  const { rows } = await sql<Inbound>`
    SELECT wamid, type, data->'message' AS message FROM whatsapp_message_v1 m
    WHERE integration_id = ${integration.id} AND direction = 'inbound' AND "from" = ${client} AND routed_to IS NULL
      AND NOT EXISTS (SELECT 1 FROM whatsapp_flow_steps s WHERE s.integration_id = m.integration_id AND s.wamid = m.wamid)
    ORDER BY "timestamp" NULLS LAST, pk LIMIT 1`.execute(trx);
  const inbound = rows[0];
  if (!inbound) {
    if (!state && session.status === 'open') await saveState(trx, sessionId, null, 'idle', pass.idleSeconds);
    return false;
  }
  if (state?.handoff) {
    await route(engine, trx, integration, [inbound.wamid], 'front');
    await recordStep(trx, integration, inbound.wamid, sessionId, client, null);
    await saveState(trx, sessionId, state, null, pass.idleSeconds);
    return true;
  }
  const ctx = { unreadReplies: [], budget: 0 };
  const step: ChatStep = state?.flow ? continueChat(flow, state.flow, inputOf(inbound), ctx) : startChat(flow, ctx);
  // Kept (undecided) until the session ends, unless it only picked a choice.
  if (step.choseChoice || PICKS.has(inbound.type ?? '')) await route(engine, trx, integration, [inbound.wamid], 'flow');
  await recordStep(trx, integration, inbound.wamid, sessionId, client, step.message);
  const handoff = step.actions.some((a) => a.type === 'submit_message');
  if (handoff || step.ended) await route(engine, trx, integration, await heldFor(trx, integration, client), 'front');
  if (handoff) await saveState(trx, sessionId, { flow: null, handoff: true }, null, pass.idleSeconds);
  else await saveState(trx, sessionId, step.ended ? null : { flow: step.session, handoff: false }, step.ended ? 'completed' : null, pass.idleSeconds);
  return true;
}

/** What a message says to a flow: a tapped button or row by id and title, else its text or caption, else its type. */
function inputOf(inbound: Inbound): ChatInput {
  const part = (value: unknown, key: string): Record<string, unknown> => {
    const inner = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
    return inner !== null && typeof inner === 'object' ? (inner as Record<string, unknown>) : {};
  };
  const str = (value: unknown) => (typeof value === 'string' ? value : null);
  const m = inbound.message;
  if (inbound.type === 'interactive') {
    const interactive = part(m, 'interactive');
    const reply = { ...part(interactive, 'button_reply'), ...part(interactive, 'list_reply') };
    return { id: str(reply.id), text: str(reply.title) ?? '' };
  }
  if (inbound.type === 'button') return { id: str(part(m, 'button').payload), text: str(part(m, 'button').text) ?? '' };
  if (inbound.type === 'text') return { id: null, text: str(part(m, 'text').body) ?? '' };
  const caption = inbound.type ? str(part(m, inbound.type).caption) : null;
  return { id: null, text: caption ?? `[${inbound.type ?? 'message'}]` };
}

/** The client's messages a flow processed and kept for Front. */
async function heldFor(trx: Kysely<Database>, integration: ServiceIntegration, client: string): Promise<string[]> {
  const { rows } = await sql<{ wamid: string }>`
    SELECT m.wamid FROM whatsapp_message_v1 m JOIN whatsapp_flow_steps s ON s.integration_id = m.integration_id AND s.wamid = m.wamid
    WHERE m.integration_id = ${integration.id} AND m."from" = ${client} AND m.direction = 'inbound' AND m.routed_to IS NULL
    ORDER BY m.pk`.execute(trx);
  return rows.map((r) => r.wamid);
}

/** Decided rows re-upserted through the engine, in the caller's transaction, so dependents are told. */
async function route(engine: Engine, trx: Kysely<Database>, integration: ServiceIntegration, wamids: string[], to: 'front' | 'flow'): Promise<void> {
  if (wamids.length === 0) return;
  const { rows } = await sql<Record<string, unknown> & { wamid: string; data: unknown }>`
    SELECT wamid, direction, "from", "to", type, status, "timestamp", error_code, error_title, data
    FROM whatsapp_message_v1 WHERE integration_id = ${integration.id} AND wamid = ANY(${wamids}::text[]) AND routed_to IS NULL`.execute(trx);
  const inputs = rows.map(({ wamid, data, ...columns }) => ({ key: wamid, columns: { ...columns, routed_to: to }, data }));
  await ingestRows(engine, integration, inputs, { origin: 'backfill', db: trx });
}

async function recordStep(trx: Kysely<Database>, integration: ServiceIntegration, wamid: string, sessionId: string, client: string, reply: object | null): Promise<void> {
  await sql`
    INSERT INTO whatsapp_flow_steps (integration_id, wamid, session_id, recipient, reply)
    VALUES (${integration.id}, ${wamid}, ${sessionId}, ${client}, ${reply === null ? null : JSON.stringify(reply)}::jsonb)`.execute(trx);
}

/** After a message. A closed session keeps no flow state: what the client wrote lives on only in the rows. */
async function saveState(trx: Kysely<Database>, id: string, state: ChatState | null, close: string | null, idleSeconds: number): Promise<void> {
  const open = close === null;
  await sql`
    UPDATE ussd_sessions SET state = ${open ? JSON.stringify(state) : null}::jsonb, idle_seconds = ${idleSeconds},
      hops = hops + 1, last_hop_at = clock_timestamp(),
      status = ${open ? 'open' : 'closed'}, close_reason = ${close}, closed_at = ${open ? null : new Date()}
    WHERE id = ${id}`.execute(trx);
}

interface PendingReply {
  pk: number;
  reply: Record<string, unknown>;
  send_started_at: Date | null;
}

/** The client's queued replies sent in order; returns when a held one may be sent again (epoch ms), or null. */
async function sendReplies(pass: Pass, client: string): Promise<number | null> {
  const { engine, integration } = pass;
  for (;;) {
    const { rows } = await sql<PendingReply>`
      SELECT pk, reply, send_started_at FROM whatsapp_flow_steps
      WHERE integration_id = ${integration.id} AND recipient = ${client} AND reply IS NOT NULL AND sent_wamid IS NULL AND error_code IS NULL
      ORDER BY pk LIMIT 1`.execute(engine.db);
    const step = rows[0];
    if (!step) return null;
    const held = await sendReply(pass, client, step);
    if (held !== null) return held;
  }
}

async function sendReply(pass: Pass, client: string, step: PendingReply): Promise<number | null> {
  const { engine, integration } = pass;
  const db = engine.db;
  const opaque = `sb-flow-${integration.id}-${step.pk}`;
  const sent = (wamid: string, trx: Kysely<Database> = db) =>
    sql`UPDATE whatsapp_flow_steps SET sent_wamid = ${wamid}, sent_at = now() WHERE pk = ${step.pk}`.execute(trx);
  if (step.send_started_at) {
    // An earlier attempt's answer was lost: its receipt names it, if it was sent.
    const { rows } = await sql<{ wamid: string }>`
      SELECT wamid FROM whatsapp_message_v1
      WHERE integration_id = ${integration.id} AND direction = 'outbound' AND "to" = ${client}
        AND EXISTS (SELECT 1 FROM jsonb_each(data->'statuses') s WHERE s.value->>'biz_opaque_callback_data' = ${opaque})
      LIMIT 1`.execute(db);
    if (rows[0]) {
      await sent(rows[0].wamid);
      return null;
    }
    const until = step.send_started_at.getTime() + UNKNOWN_SEND_HOLD_S * 1000;
    if (Date.now() < until) return until;
  }
  // Committed before anything can reach Meta: after a crash, the next attempt knows to look first.
  await sql`UPDATE whatsapp_flow_steps SET send_started_at = now() WHERE pk = ${step.pk}`.execute(db);
  try {
    await onceEver(db, opaque, async (trx) => {
      const wamid = await pass.client.sendMessage({ to: client, ...step.reply, ...(opaque ? { biz_opaque_callback_data: opaque } : {}) });
      await sent(wamid, trx);
      return { wamid };
    }, String(integration.id));
    return null;
  } catch (error) {
    // Meta answered: nothing was sent. A coded refusal (131026 not on WhatsApp) is final; the rest is retried by the pass.
    if (error instanceof ProviderHttpError && error.httpStatus !== null) {
      const final = !error.retryable && error.providerCode !== null && error.code !== 'SB_ERR_PROVIDER_AUTH';
      await sql`UPDATE whatsapp_flow_steps SET send_started_at = NULL,
          error_code = ${final ? Number(error.providerCode) : null}, error_title = ${final ? error.logMessage : null}
        WHERE pk = ${step.pk}`.execute(db);
      if (final) return null;
    }
    throw error;
  }
}
