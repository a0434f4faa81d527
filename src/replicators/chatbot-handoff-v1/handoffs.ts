/**
 * Handoffs: a chat session (the bot's `chat_session`) is handed to Front once per handoff
 * sequence number. The first message opens handoff 1; a message after a close opens the
 * next one, which becomes a new Front conversation. The contact replies go to is bound
 * when the handoff opens (seed 004: a conversation whose counterpart was never recorded
 * can never be closed), inherited from the previous handoff when the bot omits it.
 */
import { sql, type Kysely } from 'kysely';
import type { Database, ServiceIntegration } from '../../db/schema.ts';
import { invalidPayload } from '../../engine/errors.ts';
import type { Engine } from '../../engine/engine.ts';
import { ingestRows } from '../../engine/ingest.ts';

/** First half of the two-int advisory lock key "requests of one chat session" (backfill-runner.ts has 0x5b02, 0x5b03). */
const SESSION_LOCK_NAMESPACE = 0x5b17;

export interface Handoff {
  chat_session: string;
  handoff: number;
  contact: string;
  pseudonym: string | null;
  status: 'open' | 'closed';
  closed_by: string | null;
  opened_at: Date;
  last_message_at: Date;
  closed_at: Date | null;
}

/** Front's external conversation id of a handoff: the session id plus its sequence number. */
export const conversationIdOf = (session: string, handoff: number) => `${session}#${handoff}`;

/** Serialise one session's requests (the caller's transaction): repeat checks and handoff numbers never race. */
export async function lockSession(trx: Kysely<Database>, integrationId: number, session: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(${SESSION_LOCK_NAMESPACE}::int, hashtext(${`${integrationId}:${session}`}))`.execute(trx);
}

/** The session's latest handoff, open or closed. */
export async function latestHandoff(db: Kysely<Database>, integrationId: number, session: string): Promise<Handoff | null> {
  const { rows } = await sql<Handoff>`
    SELECT * FROM chatbot_handoffs WHERE integration_id = ${integrationId} AND chat_session = ${session}
    ORDER BY handoff DESC LIMIT 1`.execute(db);
  return rows[0] ?? null;
}

/**
 * The open handoff a client message belongs to: the current one (its last message time
 * moved on), or a new one when there is none open. `opened` says which.
 */
export async function handoffForMessage(
  trx: Kysely<Database>,
  integrationId: number,
  message: { session: string; contact: string | null; pseudonym: string },
): Promise<{ handoff: Handoff; opened: boolean }> {
  const latest = await latestHandoff(trx, integrationId, message.session);
  if (latest?.status === 'open') {
    const { rows } = await sql<Handoff>`
      UPDATE chatbot_handoffs SET last_message_at = now()
      WHERE integration_id = ${integrationId} AND chat_session = ${message.session} AND handoff = ${latest.handoff}
      RETURNING *`.execute(trx);
    return { handoff: rows[0]!, opened: false };
  }
  const contact = message.contact ?? latest?.contact ?? null;
  if (!contact) throw invalidPayload('contact is required on a session\'s first message (the RapidPro contact UUID or URN replies go to)');
  const { rows } = await sql<Handoff>`
    INSERT INTO chatbot_handoffs (integration_id, chat_session, handoff, contact, pseudonym)
    VALUES (${integrationId}, ${message.session}, ${(latest?.handoff ?? 0) + 1}, ${contact}, ${message.pseudonym})
    RETURNING *`.execute(trx);
  return { handoff: rows[0]!, opened: true };
}

/** Close a handoff if it is open; whether this call closed it. */
export async function closeHandoff(db: Kysely<Database>, integrationId: number, session: string, handoff: number, by: string): Promise<boolean> {
  const result = await sql`
    UPDATE chatbot_handoffs SET status = 'closed', closed_by = ${by}, closed_at = now()
    WHERE integration_id = ${integrationId} AND chat_session = ${session} AND handoff = ${handoff} AND status = 'open'`.execute(db);
  return Number(result.numAffectedRows ?? 0) > 0;
}

/** Who ended a handoff: the bot (close/), a counsellor (archived in Front), or the session timeout. */
export type ClosedBy = 'bot' | 'counsellor' | 'timeout';

/**
 * End a handoff however it ended (in `trx`, the session locked): closed, and a `close` row
 * stored under the key the bot's close/ uses, so the Front channel hears of it in the same
 * transaction (and tells the counsellor unless they ended it) and a later close/ from the bot
 * is answered with how it ended. False when it was closed already.
 */
export async function endHandoff(engine: Engine, trx: Kysely<Database>, integration: ServiceIntegration, handoff: Handoff, by: ClosedBy, data: Record<string, unknown> = {}) {
  if (!(await closeHandoff(trx, integration.id, handoff.chat_session, handoff.handoff, by))) return false;
  const answer = { status: 'closed', chat_session: handoff.chat_session, handoff: handoff.handoff, conversation_id: conversationIdOf(handoff.chat_session, handoff.handoff), closed_by: by };
  const columns = { kind: 'close', chat_session: handoff.chat_session, handoff: handoff.handoff, contact: handoff.contact, body: null, response_status: 200, response_body: JSON.stringify(answer) };
  await ingestRows(engine, integration, [{ key: `close:${handoff.chat_session}:${handoff.handoff}`, columns, data: { closed_by: by, ...data } }], { origin: 'webhook', db: trx });
  return true;
}

/** The sweeper (seed 004: no conversation stays open forever): handoffs without a message for --session-timeout minutes. */
export async function sweepIdle(engine: Engine, integration: ServiceIntegration, timeoutMinutes: number): Promise<number> {
  const { rows } = await sql<Handoff>`
    SELECT * FROM chatbot_handoffs WHERE integration_id = ${integration.id} AND status = 'open'
      AND last_message_at < now() - make_interval(mins => ${timeoutMinutes})`.execute(engine.db);
  let closed = 0;
  for (const idle of rows) {
    await engine.db.transaction().execute(async (trx) => {
      await lockSession(trx, integration.id, idle.chat_session);
      const current = await latestHandoff(trx, integration.id, idle.chat_session);
      // A message may have come meanwhile.
      if (current?.handoff !== idle.handoff || current.status !== 'open' || current.last_message_at.getTime() !== idle.last_message_at.getTime()) return;
      if (await endHandoff(engine, trx, integration, current, 'timeout')) closed++;
    });
  }
  return closed;
}
