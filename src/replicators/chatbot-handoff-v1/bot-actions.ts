/**
 * What RapidPro is told about handoffs, each thing once, by the handoff integration's passes:
 * with --handoff-group the contact joins the group when a handoff opens (so the bot's triggers
 * can exclude it) and leaves it when it ends; when a counsellor or the timeout ends a handoff,
 * the bot hears of it — --close-flow is started for the contact, else the contact's runs
 * are interrupted. A flow start is not idempotent at RapidPro: it goes under a once-ever key.
 * A refusal (4xx) is recorded on the handoff and not repeated; a failure waits for the next pass.
 */
import { sql, type Kysely } from 'kysely';
import type { Database, ServiceIntegration } from '../../db/schema.ts';
import { messageForLog } from '../../engine/errors.ts';
import { onceEver } from '../../engine/idempotency.ts';
import type { BackfillContext } from '../../engine/replicator.ts';
import { ProviderHttpError } from '../../providers/http.ts';
import { rapidProClient } from './budget.ts';
import type { Handoff } from './handoffs.ts';
import { chatbotSettings } from './settings.ts';

type Step = { column: 'group_added_at' | 'bot_told_at' | 'group_removed_at'; where: string };

const STEPS: Step[] = [
  { column: 'group_added_at', where: `status = 'open' AND group_added_at IS NULL` },
  { column: 'bot_told_at', where: `status = 'closed' AND closed_by IN ('counsellor', 'timeout') AND bot_told_at IS NULL` },
  { column: 'group_removed_at', where: `status = 'closed' AND group_added_at IS NOT NULL AND group_removed_at IS NULL` },
];

export async function tellRapidPro(ctx: BackfillContext, integration: ServiceIntegration): Promise<void> {
  const settings = chatbotSettings(integration);
  const client = rapidProClient(integration, ctx.db);
  for (const step of STEPS) {
    if (step.column !== 'bot_told_at' && !settings.handoff_group) continue;
    // Batch by batch until none is left: each handoff taken leaves the step's condition (done or refused), or ends the pass.
    for (;;) {
      const { rows } = await sql<Handoff>`
        SELECT * FROM chatbot_handoffs WHERE integration_id = ${integration.id} AND rapidpro_error IS NULL AND ${sql.raw(step.where)}
        ORDER BY opened_at LIMIT 100`.execute(ctx.db);
      if (rows.length === 0) break;
      for (const handoff of rows) {
        if (!(await tell(ctx, client, settings, integration, handoff, step))) return;
        await ctx.progress(1);
      }
    }
  }
}

/** One step for one handoff; false when RapidPro is down or rate-limited (the rest waits for the next pass). */
async function tell(
  ctx: BackfillContext,
  client: ReturnType<typeof rapidProClient>,
  settings: ReturnType<typeof chatbotSettings>,
  integration: ServiceIntegration,
  handoff: Handoff,
  step: Step,
): Promise<boolean> {
  try {
    if (step.column === 'bot_told_at') {
      const key = `chatbot-end-${integration.id}-${handoff.chat_session}#${handoff.handoff}`;
      await onceEver(ctx.db, key, async (trx) => {
        if (settings.close_flow) await client.startFlow(settings.close_flow, handoff.contact, { chat_session: handoff.chat_session, handoff: handoff.handoff, closed_by: handoff.closed_by });
        else await client.contactAction('interrupt', handoff.contact);
        await done(trx, integration, handoff, step);
        return true;
      }, String(integration.id));
      await done(ctx.db, integration, handoff, step);
    } else {
      await client.contactAction(step.column === 'group_added_at' ? 'add' : 'remove', handoff.contact, settings.handoff_group);
      await done(ctx.db, integration, handoff, step);
    }
  } catch (error) {
    if (error instanceof ProviderHttpError && error.retryable) {
      ctx.log.info({ err: messageForLog(error) }, 'telling RapidPro postponed');
      return false;
    }
    if (!(error instanceof ProviderHttpError)) throw error;
    await sql`
      UPDATE chatbot_handoffs SET rapidpro_error = ${error.message}
      WHERE integration_id = ${integration.id} AND chat_session = ${handoff.chat_session} AND handoff = ${handoff.handoff}`.execute(ctx.db);
  }
  return true;
}

async function done(db: Kysely<Database>, integration: ServiceIntegration, handoff: Handoff, step: Step): Promise<void> {
  await sql`
    UPDATE chatbot_handoffs SET ${sql.ref(step.column)} = COALESCE(${sql.ref(step.column)}, now())
    WHERE integration_id = ${integration.id} AND chat_session = ${handoff.chat_session} AND handoff = ${handoff.handoff}`.execute(db);
}
