/**
 * A worker killed (SIGKILL) in the middle of sending SMS, three times, restarted each
 * time: every SMS is sent exactly once — sends whose answer never came are found in
 * SignalWire and adopted, not resent — and a restarted worker resumes at once.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNEL_ID, setUpChannel, type ChannelSetup } from '../helpers/channel.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { spawnNode, type Child } from '../helpers/processes.ts';
import { waitFor } from '../helpers/wait.ts';

const database = useTestDatabase();
let setup: ChannelSetup;
const workers: Child[] = [];
const MESSAGES = 60;

beforeAll(async () => {
  setup = await setUpChannel(database());
  await setup.frontClient.authorize(CHANNEL_ID);
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop('SIGKILL')));
  await setup.close();
});

const pending = async () =>
  (await sql<{ n: number }>`SELECT count(*)::int AS n FROM front_signalwire_message_channel_app_v1 WHERE delivery_status = 'pending'`.execute(database().db)).rows[0]!.n;

describe('a worker killed mid-drain', () => {
  it('never sends an SMS twice and loses none', { timeout: 120_000 }, async () => {
    for (let i = 0; i < MESSAGES; i++) {
      await setup.frontClient.message({ id: `msg_crash${i}`, channelId: CHANNEL_ID, text: `reply ${i}`, to: [`+1555001${String(1000 + i)}`] });
    }
    // Slow sends, so kills land mid-send.
    setup.signalwire.faults.latencyMs = 40;
    const env = {
      DATABASE_URL: database().url,
      PUBLIC_URL: setup.publicUrl,
      FRONT_API_URL: setup.front.url,
      FRONT_CHANNEL_APP_UID: setup.front.appUid,
      FRONT_CHANNEL_APP_SECRET: setup.front.appSecret,
      SWITCHBOARD_POLL_CRON: '0 0 1 1 *',
      LOG_LEVEL: 'warn',
    };
    for (let round = 0; round < 3; round++) {
      const worker = spawnNode(['bin/switchboard.js', 'worker'], env);
      workers.push(worker);
      const before = setup.signalwire.requests.filter((r) => r.method === 'POST').length;
      await waitFor(() => setup.signalwire.requests.filter((r) => r.method === 'POST').length >= before + 5, { timeoutMs: 30_000, what: 'sends to start' });
      expect(await worker.stop('SIGKILL')).toBe('SIGKILL');
    }
    const last = spawnNode(['bin/switchboard.js', 'worker'], env);
    workers.push(last);
    await waitFor(async () => (await pending()) === 0, { timeoutMs: 60_000, intervalMs: 200, what: 'all delivered after the last restart' });

    const sent = setup.signalwire.sent();
    const recipients = sent.map((m) => m.to);
    expect(new Set(recipients).size).toBe(recipients.length);
    expect(recipients).toHaveLength(MESSAGES);
    const { rows } = await sql<{ signalwire_sid: string }>`SELECT signalwire_sid FROM front_signalwire_message_channel_app_v1 ORDER BY pk`.execute(database().db);
    expect(rows.map((r) => r.signalwire_sid).sort()).toEqual(sent.map((m) => m.sid).sort());
    // The kills did land between a send and its write-back: those were looked up, not resent.
    expect(setup.signalwire.requests.filter((r) => r.method === 'GET' && r.query.To).length).toBeGreaterThan(0);
    expect(setup.signalwire.requests.filter((r) => r.method === 'POST')).toHaveLength(MESSAGES);
    expect(await last.stop('SIGTERM')).toBe(0);
  });
});
