/**
 * graphile-worker tasks. They stay thin: the work lives in the engine; a task turns a
 * job payload into an engine call and its outcome into job success or failure.
 */
import { sql } from 'kysely';
import type { Task, TaskList } from 'graphile-worker';
import { BACKFILL_TASK, mergeRequests, requestBackfill, type BackfillRequest } from '../engine/backfill-queue.ts';
import { runBackfillPass } from '../engine/backfill-runner.ts';
import { messageForLog } from '../engine/errors.ts';
import type { Engine } from '../engine/engine.ts';
import { sweepSessions } from '../replicators/ussd-request-v1/sessions.ts';

export const POLL_TASK = 'poll_integrations';
export const PRUNE_TASK = 'prune_webhook_log';
export const SWEEP_TASK = 'sweep_ussd_sessions';

function backfillTask(engine: Engine): Task {
  return async (payload, helpers) => {
    const requests = (Array.isArray(payload) ? payload : [payload]) as BackfillRequest[];
    const integrationId = requests[0]?.integration_id;
    if (typeof integrationId !== 'number') {
      helpers.logger.error('backfill job without integration_id; dropped');
      return;
    }
    const outcome = await runBackfillPass(engine, integrationId, mergeRequests(requests), { signal: helpers.abortSignal });
    switch (outcome.status) {
      case 'locked':
        // Left for the running pass, which runs one more pass before it stops.
        return;
      case 'missing':
        helpers.logger.info(`integration ${integrationId} no longer exists; backfill dropped`);
        return;
      case 'failed':
        // graphile-worker logs what it is thrown: only the loggable message (the run keeps the full one).
        if (outcome.retryable) throw new Error(messageForLog(outcome.error));
        return;
      case 'succeeded':
        return;
    }
  };
}

function pollTask(engine: Engine): Task {
  return async () => {
    const polling = engine.registry.list().filter((r) => r.polls).map((r) => r.name);
    if (polling.length === 0) return;
    const integrations = await engine.db.selectFrom('service_integrations').select('id').where('service_name', 'in', polling).execute();
    for (const { id } of integrations) {
      await requestBackfill(engine.db, id, { incremental: true, recursive: true, trigger: 'cron' });
    }
  };
}

/** Webhook log and closed USSD sessions past their retention, and hosted media past expiry. */
function pruneTask(engine: Engine, retentionDays: number): Task {
  return async () => {
    // Small batches keep each delete short on a busy table.
    for (;;) {
      const result = await sql`
        DELETE FROM webhook_log WHERE id IN (
          SELECT id FROM webhook_log WHERE received_at < now() - make_interval(days => ${retentionDays}) LIMIT 5000
        )`.execute(engine.db);
      if (Number(result.numAffectedRows ?? 0) < 5000) break;
    }
    await sql`DELETE FROM media_files WHERE expires_at < now()`.execute(engine.db);
    await sql`DELETE FROM ussd_sessions WHERE status = 'closed' AND closed_at < now() - make_interval(days => ${retentionDays})`.execute(engine.db);
  };
}

/** Sessions left idle (USSD: the gateway abandoned them; WhatsApp: past their idle time) are closed, with that reason. */
function sweepTask(engine: Engine): Task {
  return async (_payload, helpers) => {
    const closed = await sweepSessions(engine.db, engine.config.ussd.sessionTimeoutSeconds);
    if (closed > 0) helpers.logger.info(`closed ${closed} idle session(s)`);
  };
}

export function taskList(engine: Engine, options: { webhookLogRetentionDays: number }): TaskList {
  return {
    [BACKFILL_TASK]: backfillTask(engine),
    [POLL_TASK]: pollTask(engine),
    [PRUNE_TASK]: pruneTask(engine, options.webhookLogRetentionDays),
    [SWEEP_TASK]: sweepTask(engine),
  };
}

export function crontab(pollCron: string): string {
  return [
    `${pollCron} ${POLL_TASK} ?jobKey=${POLL_TASK}&max=1`,
    `17 * * * * ${PRUNE_TASK} ?jobKey=${PRUNE_TASK}&max=1`,
    `* * * * * ${SWEEP_TASK} ?jobKey=${SWEEP_TASK}&max=1`,
  ].join('\n');
}
