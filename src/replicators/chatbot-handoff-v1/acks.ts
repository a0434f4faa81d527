/**
 * Switchboard's side of the acknowledgements (seed 003): once a client's message is in
 * Front, the bot platform is told — `POST <--ack-url>` with `Authorization: Token
 * <--ack-token>` and `{conversation_id, message_id, status: "delivered", source: "helpline"}`.
 * An acknowledgement is owed by the message's row (pending until sent) and sent by passes:
 * a failure is retried by the next pass; a refusal (4xx other than 408/429) is recorded on
 * the row and shown as failed. A repeated acknowledgement says nothing new to the bot, so
 * a send whose answer was lost is simply sent again.
 */
import { sql } from 'kysely';
import type { ServiceIntegration } from '../../db/schema.ts';
import type { BackfillContext } from '../../engine/replicator.ts';
import { providerRequest } from '../../providers/http.ts';
import { chatbotSettings } from './settings.ts';

const BATCH = 100;

/** The rows whose acknowledgement is owed: client messages, while an --ack-url is set. */
export const ACK_PENDING = `kind = 'chat' AND helpline_ack_at IS NULL AND helpline_ack_error IS NULL
  AND EXISTS (SELECT 1 FROM service_integrations i WHERE i.id = integration_id AND i.settings ? 'ack_url')`;

interface Owed {
  pk: number;
  request_key: string;
  chat_session: string;
  message_id: string | null;
}

/** Every acknowledgement owed, batch by batch, until none is left or the bot platform stops answering. */
export async function sendAcks(ctx: BackfillContext, integration: ServiceIntegration): Promise<void> {
  const { ack_url: url, ack_token: token } = chatbotSettings(integration);
  if (!url) return;
  for (let cursor = 0; ; ) {
    // Only what Front has: the channel's row of the message is delivered.
    const { rows } = await sql<Owed>`
      SELECT h.pk, h.request_key, h.chat_session, h.message_id FROM chatbot_handoff_v1 h
      WHERE h.integration_id = ${integration.id} AND h.kind = 'chat' AND h.helpline_ack_at IS NULL AND h.helpline_ack_error IS NULL
        AND h.pk > ${cursor}
        AND EXISTS (SELECT 1 FROM front_chatbot_channel_app_v1 c JOIN service_integrations i ON i.id = c.integration_id
                    WHERE i.depends_on = h.integration_id AND c.external_id = h.request_key AND c.delivery_status = 'delivered')
      ORDER BY h.pk LIMIT ${BATCH}`.execute(ctx.db);
    if (rows.length === 0) return;
    cursor = rows.at(-1)!.pk;
    for (const row of rows) {
      // The bot platform is down: its other acknowledgements wait for the next pass.
      if (!(await sendAck(ctx, row, url, token))) return;
      await ctx.progress(1);
    }
  }
}

/** One acknowledgement, its outcome written on its row; false when the bot platform looks down. */
async function sendAck(ctx: BackfillContext, row: Owed, url: string, token: string | undefined): Promise<boolean> {
  const body = { conversation_id: row.chat_session, message_id: row.message_id ?? row.request_key, status: 'delivered', source: 'helpline' };
  let outcome: { ok: true } | { ok: false; final: boolean; error: string };
  try {
    const response = await providerRequest('chatbot-ack', url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Token ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    const status = response.status;
    outcome = status >= 200 && status < 300 ? { ok: true } : { ok: false, final: status < 500 && status !== 408 && status !== 429, error: `the ack URL answered ${status}` };
  } catch (error) {
    outcome = { ok: false, final: false, error: (error as Error).message };
  }
  if (outcome.ok) {
    await sql`UPDATE chatbot_handoff_v1 SET helpline_ack_at = now(), helpline_ack_attempts = helpline_ack_attempts + 1, row_updated_at = now() WHERE pk = ${row.pk}`.execute(ctx.db);
    return true;
  }
  await sql`
    UPDATE chatbot_handoff_v1 SET helpline_ack_attempts = helpline_ack_attempts + 1, row_updated_at = now(),
      helpline_ack_error = ${outcome.final ? outcome.error : null}
    WHERE pk = ${row.pk}`.execute(ctx.db);
  if (!outcome.final) ctx.log.info({ err: outcome.error }, 'acknowledgements to the bot platform postponed');
  return outcome.final;
}
