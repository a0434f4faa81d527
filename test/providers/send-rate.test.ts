/**
 * Paced sends (src/providers/send-rate.ts) against the SignalWire simulator's rate-limited
 * mode (at most N sends from a number in any one-second window, 429 beyond): a channel's
 * backlog drains at the integration's `--send-rate` without a 429, two processes sending
 * from one number share its pace, and a Retry-After holds every sender back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createPool, wrapPool } from '../../src/db/connect.ts';
import { createLogger } from '../../src/log.ts';
import { awaitSlot, holdSends, reserveSendSlot } from '../../src/providers/send-rate.ts';
import { signalWireClient } from '../../src/providers/signalwire/client.ts';
import { startSignalWireSimulator, type SignalWireSimulator } from '../../src/simulators/signalwire.ts';
import { CHANNEL_ID, setUpChannel, SUPPORT, type ChannelSetup } from '../helpers/channel.ts';
import { useTestDatabase } from '../helpers/database.ts';

const database = useTestDatabase();
const closing: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closing.splice(0)) await close();
});

const recipient = (i: number) => `+1555001${String(1000 + i)}`;

describe('paced sends', () => {
  // At 1/s the four lanes' turns take longer than a Retry-After hold that makes rows back off: they still wait their turn.
  it.each([
    { perSecond: 10, messages: 25 },
    { perSecond: 1, messages: 6 },
  ])("drains a channel's backlog at the integration's send rate ($perSecond/s): every SMS once, no 429", { timeout: 60_000 }, async ({ perSecond, messages }) => {
    const setup: ChannelSetup = await setUpChannel(database());
    closing.push(() => setup.close());
    await setup.frontClient.authorize(CHANNEL_ID);
    setup.channel = await setup.reload(setup.channel);
    const update = await setup.cli('integrations', 'update', String(setup.sw.id), '--send-rate', String(perSecond));
    expect(update.code, update.stderr).toBe(0);
    setup.signalwire.faults.rateLimit = { perSecond, per: 'sender' };

    for (let i = 0; i < messages; i++) await setup.frontClient.message({ id: `msg_rate_${i}`, channelId: CHANNEL_ID, text: `reply ${i}`, to: [recipient(i)] });
    expect(await setup.pass(setup.channel)).toMatchObject({ status: 'succeeded' });

    expect((await setup.rows()).map((r) => r.delivery_status)).toEqual(Array(messages).fill('delivered'));
    expect(setup.signalwire.sent().map((m) => m.to).sort()).toEqual(Array.from({ length: messages }, (_, i) => recipient(i)).sort());
    // As the bench counts: none more than a second after the first send.
    const firstSend = setup.signalwire.requests.find((r) => r.method === 'POST')!.at.getTime();
    expect(setup.signalwire.faults.rateLimited.filter((at) => at > firstSend + 1000)).toEqual([]);
  });

  it("holds the number's other sends back for a 429's Retry-After: their rows wait, not the lanes", async () => {
    const setup: ChannelSetup = await setUpChannel(database());
    closing.push(() => setup.close());
    await setup.frontClient.authorize(CHANNEL_ID);
    setup.channel = await setup.reload(setup.channel);
    setup.signalwire.faults.script.push({ kind: 'status', status: 429, headers: { 'retry-after': '30' }, body: { code: 20429, message: 'Too Many Requests' } });
    await setup.frontClient.message({ id: 'msg_refused', channelId: CHANNEL_ID, text: 'first', to: [recipient(1)] });
    await setup.pass(setup.channel);
    await setup.frontClient.message({ id: 'msg_held', channelId: CHANNEL_ID, text: 'second', to: [recipient(2)] });
    await setup.pass(setup.channel);

    expect(setup.signalwire.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
    const held = (await setup.rows()).find((r) => r.body === 'second')!;
    expect(held).toMatchObject({ delivery_status: 'pending', send_started_at: null, delivery_error_message: expect.stringMatching(/^sends paced: the next slot is in (29|30) s/) });
    expect(held.next_attempt_at.getTime() - Date.now()).toBeGreaterThan(25_000);
  });

  it('refuses a send rate that is not a positive number', async () => {
    const setup: ChannelSetup = await setUpChannel(database());
    closing.push(() => setup.close());
    const run = await setup.cli('integrations', 'update', String(setup.sw.id), '--send-rate', 'fast');
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/--send-rate: "fast" is not a rate/);
  });

  it('shares one number\'s pace between two processes', { timeout: 60_000 }, async () => {
    const signalwire: SignalWireSimulator = await startSignalWireSimulator();
    closing.push(() => signalwire.close());
    signalwire.faults.rateLimit = { perSecond: 10, per: 'sender' };
    const client = signalWireClient({ api_url: signalwire.url, backfill_key: signalwire.projectId, backfill_secret: signalwire.apiToken });
    // Two pools, as two worker processes would have, four lanes each.
    const processes = [0, 1].map(() => wrapPool(database().url, createPool(database().url, 4, createLogger('silent'))));
    for (const p of processes) closing.push(() => p.close());
    const bucket = `signalwire:shared-test:${SUPPORT}`;
    let next = 0;
    const lane = async (db: (typeof processes)[number]['db']) => {
      for (let i = next++; i < 24; i = next++) {
        await awaitSlot(await reserveSendSlot(db, bucket, 10));
        await client.sendMessage({ from: SUPPORT, to: recipient(i), body: `shared ${i}` });
      }
    };
    await Promise.all(processes.flatMap((p) => [lane(p.db), lane(p.db), lane(p.db), lane(p.db)]));
    expect(signalwire.sent()).toHaveLength(24);
    const firstSend = signalwire.requests.find((r) => r.method === 'POST')!.at.getTime();
    expect(signalwire.faults.rateLimited.filter((at) => at > firstSend + 1000)).toEqual([]);
  });

  it("holds every sender of a bucket back until the provider's Retry-After has passed", async () => {
    const bucket = `signalwire:retry-after-test:${SUPPORT}`;
    expect((await reserveSendSlot(database().db, bucket, 1000)).waitMs).toBe(0);
    await holdSends(database().db, bucket, 1500);
    // The wait Postgres computed from the stored slot: not a measurement of the clock.
    expect((await reserveSendSlot(database().db, bucket, 1000)).waitMs).toBeGreaterThan(1400);
  });
});
