/**
 * The chatbot handoff's worker-crash scenario (issue 17), shared by the fast test
 * (test/reliability/chatbot.test.ts) and `npm run soak`: client messages to import into
 * Front and acknowledge to the bot platform, and counsellor replies to send through RapidPro,
 * drained by `switchboard worker` processes SIGKILLed mid-drain. Figures are counted at the
 * simulators, as reliability.ts counts them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { CHATBOT_CHANNEL_ID, setUpChatbot, startAckEndpoint } from './chatbot.ts';
import type { TestDatabase } from './database.ts';
import type { Child } from './processes.ts';
import { seeded, spawnWorker, workerEnv, type Figures } from './reliability.ts';
import { waitFor } from './wait.ts';

/**
 * `sessions` clients each hand off with one message and get one reply; a worker is killed
 * `rounds` times, each after a (seeded) random number of RapidPro sends, and restarted.
 * RapidPro and the ack endpoint answer slowly, so kills land between a call and its
 * write-back. Lost: a reply not at RapidPro, a message not in Front, or one never
 * acknowledged. Duplicate: a second RapidPro send or Front import. A repeated acknowledgement
 * is counted apart (`ackRepeats`): it tells the bot nothing new, so acks.ts resends after a crash.
 */
export async function chatbotCrashDrain(
  database: Pick<TestDatabase, 'db' | 'url'>,
  options: { sessions: number; rounds: number; latencyMs?: number; seed?: number; timeoutMs?: number },
): Promise<Figures> {
  const ack = await startAckEndpoint();
  const s = await setUpChatbot(database, ['--ack-url', ack.url, '--ack-token', 'crash-ack-token']);
  const workers: Child[] = [];
  try {
    const bot = s.bot();
    const inbound: string[] = [];
    const outbound: string[] = [];
    const messageIds: string[] = [];
    for (let n = 0; n < options.sessions; n++) {
      const contact = s.rapidpro.addContact({ urn: `telegram:7${n}` }).uuid;
      const { message, call } = await bot.say({ contact, session: `crash-${n}`, text: `client ${n}` });
      if (call.status !== 200) throw new Error(`chat/ answered ${call.status ?? call.outcome}`);
      inbound.push(`client ${n}`);
      messageIds.push(message.uuid);
      const answer = await s.frontClient.message({ id: `msg_crash${n}`, channelId: CHATBOT_CHANNEL_ID, text: `answer ${n}`, to: [`crash-${n}#1`] });
      if (answer.status !== 200) throw new Error(`the channel answered ${answer.status}`);
      outbound.push(`Ada: answer ${n}`);
    }
    s.rapidpro.faults.latencyMs = options.latencyMs ?? 40;
    ack.latencyMs = options.latencyMs ?? 40;
    const sends = () => s.rapidpro.requests.filter((r) => r.method === 'POST' && r.path === '/api/v2/messages.json').length;
    const tally = () => {
      const inbox = s.front.inbox.map((m) => m.body).filter((b) => inbound.includes(b));
      const sent = s.rapidpro.sent().map((m) => m.text);
      const acked = new Set(ack.received.map((r) => r.body.message_id as string));
      const extra = (seen: string[], want: string[]) => seen.length - new Set(seen).size + seen.filter((b) => !want.includes(b)).length;
      return {
        duplicates: extra(inbox, inbound) + extra(sent, outbound),
        lost: inbound.filter((b) => !inbox.includes(b)).length + outbound.filter((b) => !sent.includes(b)).length + messageIds.filter((id) => !acked.has(id)).length,
        ackRepeats: ack.received.length - acked.size,
      };
    };
    const env = workerEnv(
      { databaseUrl: database.url, publicUrl: s.publicUrl, front: s.front },
      // An import cut off before it reached Front is retried after this hold, not the default two minutes.
      { SWITCHBOARD_FRONT_IMPORT_HOLD_S: '2' },
    );
    const random = seeded(options.seed ?? 17);
    const maxSends = Math.max(4, Math.floor(options.sessions / (options.rounds * 2)));
    for (let round = 0; round < options.rounds; round++) {
      const before = sends();
      const worker = spawnWorker(env);
      workers.push(worker);
      const wanted = 2 + Math.floor(random() * (maxSends - 2));
      await waitFor(() => sends() >= before + wanted, { timeoutMs: 60_000, intervalMs: 5, what: 'sends before the kill' });
      if ((await worker.stop('SIGKILL')) !== 'SIGKILL') throw new Error('the worker was not killed');
    }
    const restartedAt = Date.now();
    const last = spawnWorker(env);
    workers.push(last);
    const pending = async () =>
      (
        await sql<{ n: number }>`
          SELECT (SELECT count(*) FROM front_chatbot_channel_app_v1 WHERE delivery_status = 'pending')
               + (SELECT count(*) FROM chatbot_handoff_v1 WHERE kind = 'chat' AND helpline_ack_at IS NULL AND helpline_ack_error IS NULL) AS n`.execute(s.engine.db)
      ).rows[0]!.n;
    try {
      await waitFor(async () => tally().lost === 0 && Number(await pending()) === 0, { timeoutMs: options.timeoutMs ?? 120_000, intervalMs: 100, what: 'the chatbot drain to converge' });
    } catch (error) {
      // Slow or lost: the counts at the deadline tell which.
      throw new Error(`${(error as Error).message}: ${JSON.stringify({ ...tally(), pendingRows: Number(await pending()), rapidProSends: sends() })}`, {
        cause: await stuck(s.engine.db, last),
      });
    }
    const convergeMs = Date.now() - restartedAt;
    // A moment more, so late duplicates would show.
    await sleep(1000);
    const exit = await last.stop('SIGTERM');
    return {
      scenario: 'chatbot-crash',
      messages: inbound.length + outbound.length,
      faultsInjected: options.rounds,
      ...tally(),
      convergeMs,
      lastWorkerExit: exit,
    };
  } finally {
    s.rapidpro.faults.latencyMs = 0;
    await Promise.all(workers.map((w) => w.stop('SIGKILL')));
    await s.close();
    await ack.close();
  }
}

/** Why a drain is stuck: where the pending rows are, what the passes last said, the worker's last words. */
async function stuck(db: TestDatabase['db'], worker: Child) {
  const rows = await sql`
    SELECT direction, delivery_attempts, delivery_error_code, next_attempt_at IS NOT NULL AS held,
           send_started_at IS NOT NULL AS sending, import_started_at IS NOT NULL AS importing, count(*)::int AS n
    FROM front_chatbot_channel_app_v1 WHERE delivery_status = 'pending'
    GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY n DESC LIMIT 10`.execute(db);
  const runs = await sql`
    SELECT i.service_name, r.status, left(r.error, 300) AS error, count(*)::int AS n, max(r.started_at) AS last
    FROM backfill_runs r JOIN service_integrations i ON i.id = r.integration_id
    GROUP BY 1, 2, 3 ORDER BY last DESC LIMIT 15`.execute(db);
  const integrations = await sql`
    SELECT service_name, last_error_code, left(last_error_message, 300) AS message, last_error_at, last_backfilled_at
    FROM service_integrations`.execute(db);
  const jobs = await sql`
    SELECT task_identifier, attempts, run_at, locked_at IS NOT NULL AS locked, left(last_error, 300) AS last_error
    FROM graphile_worker.jobs ORDER BY run_at LIMIT 20`.execute(db);
  return { pending: rows.rows, runs: runs.rows, integrations: integrations.rows, jobs: jobs.rows, worker: worker.output().slice(-4000) };
}
