/**
 * The reliability scenarios (test/helpers/reliability.ts) on the Front WhatsApp channel,
 * small: duplicated and reordered webhooks, racing workers, a worker killed mid-drain,
 * providers failing 30% of calls, and an outage of both. Every client message reaches Front
 * once and every reply is sent once; sends whose answer was lost are settled by Meta's
 * receipts (played back by the harness within 100 ms, so the send hold is 2 s here), never
 * sent again. (`npm run soak` runs these four at full size too: `npm run soak -- whatsapp`.)
 */
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { crashDrain, outage, providerFaults, races, seeded } from '../helpers/reliability.ts';
import { CHANNEL_ID, setUpChannel, type ChannelSetup } from '../helpers/channel.ts';
import { useTestDatabase } from '../helpers/database.ts';

// A fresh channel per scenario: each numbers its clients and Front messages from zero.
const database = useTestDatabase();
let current: ChannelSetup | undefined;
const setup = () => current!;
beforeEach(async () => {
  current = await setUpChannel(database(), {}, { whatsapp: true });
  await current.frontClient.authorize(CHANNEL_ID);
  current.channel = await current.reload(current.channel);
});
afterEach(() => current?.close());
const statuses = async () => (await setup().rows()).filter((r) => !r.data.notice).map((r) => r.delivery_status);

describe('the Front WhatsApp channel under trouble', () => {
  it('webhooks delivered three times in any order converge to one row, one import and one send per message', { timeout: 60_000 }, async () => {
    const s = setup();
    const hook = `${s.publicUrl}/v1/service_integrations/${s.wa!.opaque_id}`;
    const inbound = Array.from({ length: 5 }, (_, i) => ({ from: `1555300000${i}`, id: `wamid.dup${i}`, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: `dup ${i}` } }));
    const bodies = inbound.map((message) => JSON.stringify(s.whatsapp!.envelope({ contacts: [{ profile: { name: 'C' }, wa_id: message.from }], messages: [message] })));
    const random = seeded(3);
    const deliveries = [...bodies, ...bodies, ...bodies].sort(() => random() - 0.5);
    await Promise.all(deliveries.map((body) => s.whatsapp!.postWebhook(hook, body)));
    const replies = inbound.map((m, i) => ({ id: `msg_dup${i}`, channelId: CHANNEL_ID, text: `answer ${i}`, to: [`+${m.from}`] }));
    for (const reply of [...replies, ...replies, ...replies].sort(() => random() - 0.5)) await s.frontClient.message(reply);
    for (let i = 0; i < 3; i++) await s.pass(s.channel);
    for (const sent of s.whatsapp!.sent()) await s.whatsapp!.sendStatus(sent.wamid, 'delivered', hook);
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM whatsapp_message_v1 WHERE integration_id = ${s.wa!.id}`.execute(s.engine.db);
    expect(rows[0]!.n).toBe(10);
    expect(s.front.inbox.map((m) => m.body).sort()).toEqual(inbound.map((m) => m.text.body).sort());
    expect(s.whatsapp!.sent().map((m) => (m.request.text as { body: string }).body).sort()).toEqual(replies.map((r) => r.text).sort());
    expect(await statuses()).toEqual(Array(10).fill('delivered'));
  });

  it('racing workers, polls and manual backfills send nothing twice and lose nothing', { timeout: 120_000 }, async () => {
    const result = await races(setup(), { perDirection: 20, workers: 2 });
    expect(result).toMatchObject({ duplicates: 0, lost: 0, workerExits: '0,0' });
  });

  it('a worker killed mid-drain sends no reply twice and loses none', { timeout: 120_000 }, async () => {
    const result = await crashDrain(setup(), { messages: 20, rounds: 2 });
    expect(result).toMatchObject({ duplicates: 0, lost: 0, faultsInjected: 2, lastWorkerExit: 0 });
  });

  it('providers failing 30% of calls converge, each message delivered once', { timeout: 120_000 }, async () => {
    const result = await providerFaults(setup(), { perDirection: 8, rate: 0.3, timeoutMs: 100_000 });
    expect(result).toMatchObject({ duplicates: 0, lost: 0 });
    expect(result.faultsInjected).toBeGreaterThan(0);
  });

  it('an outage of both providers loses nothing and the backlog drains once they are back', { timeout: 90_000 }, async () => {
    const result = await outage(setup(), { perDirection: 9, outageMs: 2000, simulateLongOutage: true, timeoutMs: 30_000 });
    expect(result).toMatchObject({ duplicates: 0, lost: 0 });
    expect(result.backlogAtEnd).toBeGreaterThan(0);
  });
});
