/**
 * Acknowledgements both ways (issue 17, item 4): a client message imported into Front is
 * acknowledged to the bot platform's --ack-url once (a pending row delivered by passes,
 * retried when the platform is down, shown failed when it refuses); the bot's own receipts
 * of replies are in front-chatbot-channel.test.ts.
 */
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { backfillJobKey } from '../../src/engine/backfill-queue.ts';
import { integrationStatus } from '../../src/engine/status.ts';
import { setUpChatbot, startAckEndpoint, type AckEndpoint, type ChatbotSetup } from '../helpers/chatbot.ts';
import { useTestDatabase } from '../helpers/database.ts';

const database = useTestDatabase();
let setup: ChatbotSetup | undefined;
let platform: AckEndpoint | undefined;
afterEach(async () => {
  await setup?.close();
  await platform?.close();
  setup = undefined;
  platform = undefined;
});

/** The bot platform's ack endpoint, closed after the test. */
async function ackEndpoint(answers: number[] = []) {
  platform = await startAckEndpoint(answers);
  return platform;
}

async function handoffWithMessages(s: ChatbotSetup, texts: string[]) {
  const contact = s.rapidpro.addContact({ urn: 'telegram:99' }).uuid;
  const bot = s.bot();
  const ids = [];
  for (const text of texts) ids.push((await bot.say({ contact, session: 'ack-1', text })).message.uuid);
  return ids;
}

describe('acknowledgements to the bot platform', () => {
  it('acknowledges each message once it is in Front, once', async () => {
    const endpoint = await ackEndpoint();
    setup = await setUpChatbot(database(), ['--ack-url', endpoint.url, '--ack-token', 'ack-secret']);
    const ids = await handoffWithMessages(setup, ['one', 'two']);
    await setup.pass(setup.handoff);
    expect(endpoint.received).toEqual([]); // nothing is in Front yet
    await setup.pass(setup.channel);
    // The channel's pass asks for the handoff integration's, which sends them.
    const { rows: jobs } = await sql<{ key: string }>`SELECT key FROM graphile_worker.jobs`.execute(setup.engine.db);
    expect(jobs.map((j) => j.key)).toContain(backfillJobKey(setup.handoff.id));
    await setup.pass(setup.handoff);
    await setup.pass(setup.handoff);
    expect(endpoint.received).toEqual(
      ids.map((id) => ({ authorization: 'Token ack-secret', body: { conversation_id: 'ack-1', message_id: id, status: 'delivered', source: 'helpline' } })),
    );
    const status = await integrationStatus(setup.engine, setup.handoff);
    expect(status).toMatchObject({ pending: 0, failed: 0 });
  });

  it('acknowledges a backlog larger than one batch in one pass', async () => {
    // The full soak's crash scenario left 200 of 500 unacknowledged: a pass stopped after its first batch.
    const endpoint = await ackEndpoint();
    setup = await setUpChatbot(database(), ['--ack-url', endpoint.url]);
    const ids = await handoffWithMessages(setup, Array.from({ length: 130 }, (_, n) => `message ${n}`));
    await setup.pass(setup.channel);
    await setup.pass(setup.handoff);
    expect(new Set(endpoint.received.map((r) => r.body.message_id))).toEqual(new Set(ids));
    expect(await integrationStatus(setup.engine, setup.handoff)).toMatchObject({ pending: 0 });
  });

  it('retries while the platform is down, and shows an acknowledgement it refuses as failed', async () => {
    const endpoint = await ackEndpoint([503, 200, 400]);
    setup = await setUpChatbot(database(), ['--ack-url', endpoint.url]);
    await handoffWithMessages(setup, ['one', 'two']);
    await setup.pass(setup.channel);
    await setup.pass(setup.handoff); // 503: the rest waits
    expect(endpoint.received).toHaveLength(1);
    expect(await integrationStatus(setup.engine, setup.handoff)).toMatchObject({ pending: 2 });
    await setup.pass(setup.handoff); // 200 for the first, 400 for the second
    await setup.pass(setup.handoff);
    expect(endpoint.received.map((r) => r.body.message_id)).toHaveLength(3);
    const status = await integrationStatus(setup.engine, setup.handoff, { reasons: 3 });
    expect(status).toMatchObject({ pending: 0, failed: 1 });
    expect(status.failure_reasons[0]!.reason).toBe('acknowledgement refused: the ack URL answered 400');
  });

  it('owes nothing without --ack-url', async () => {
    setup = await setUpChatbot(database());
    await handoffWithMessages(setup, ['one']);
    await setup.pass(setup.channel);
    await setup.pass(setup.handoff);
    expect(await integrationStatus(setup.engine, setup.handoff)).toMatchObject({ pending: 0, failed: 0 });
  });
});
