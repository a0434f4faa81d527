/**
 * The polling backfill of `chatbot_handoff_v1` (issue 17, item 3) against the RapidPro
 * simulator: a client message whose webhook the flow never delivered is recovered from
 * RapidPro and imported into Front once; messages the webhook did deliver (with or without
 * message_id) are not stored again; a 429's Retry-After and the hourly budget stop polling,
 * and `status --json` shows the requests of the last hour.
 */
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { setUpChatbot, type ChatbotSetup } from '../helpers/chatbot.ts';
import { useTestDatabase } from '../helpers/database.ts';

const database = useTestDatabase();
let setup: ChatbotSetup | undefined;
afterEach(async () => {
  await setup?.close();
  setup = undefined;
});

const chatRows = async (s: ChatbotSetup) => (await s.requests()).filter((r) => r.kind === 'chat');
const messageRequests = (s: ChatbotSetup) => s.rapidpro.requests.filter((r) => r.path === '/api/v2/messages.json' && r.method === 'GET');

describe('polling RapidPro for open handoffs', () => {
  it('recovers a message whose webhook was dropped and imports it into the handoff\'s conversation once, at its own time', async () => {
    setup = await setUpChatbot(database());
    const contact = setup.rapidpro.addContact({ urn: 'telegram:4711' }).uuid;
    const bot = setup.bot();
    await bot.say({ contact, session: 's-1', text: 'hello' });
    bot.dropNext = 1;
    const { call } = await bot.say({ contact, session: 's-1', text: 'are you there?' });
    expect(call.outcome).toBe('dropped');
    await bot.say({ contact, session: 's-1', text: 'please answer' });
    for (let i = 0; i < 2; i++) {
      await setup.pass(setup.handoff);
      await setup.pass(setup.channel);
    }
    expect((await chatRows(setup)).map((r) => r.body).sort()).toEqual(['are you there?', 'hello', 'please answer']);
    expect(setup.front.inbox.map((m) => m.body).sort()).toEqual(['are you there?', 'hello', 'please answer']);
    const recovered = setup.front.inbox.find((m) => m.body === 'are you there?')!;
    const said = setup.rapidpro.messages().find((m) => m.text === 'are you there?')!;
    expect(recovered.externalConversationId).toBe('s-1#1');
    expect(recovered.deliveredAt).toBe(Math.floor(Date.parse(said.created_on) / 1000));
  });

  it('stores nothing again for messages the webhook delivered, with message_id or without', async () => {
    setup = await setUpChatbot(database());
    const contact = setup.rapidpro.addContact({ urn: 'telegram:4712' }).uuid;
    const bot = setup.bot();
    await bot.say({ contact, session: 's-2', text: 'with an id' });
    // A flow that sends no message_id: the same text near the same time is the same message.
    setup.rapidpro.clientSays(contact, 'without an id');
    const token = await setup.token();
    const answer = await setup.call('POST', 'chat/', { json: { chat_session: 's-2', chat_sender: 'x', chat_message: 'without an id' }, token });
    expect(answer.status).toBe(200);
    await setup.pass(setup.handoff);
    await setup.pass(setup.handoff);
    expect((await chatRows(setup)).map((r) => r.body)).toEqual(['with an id', 'without an id']);
    expect(messageRequests(setup).length).toBeGreaterThan(0);
  });

  it('stores nothing again on Weni, whose messages have no uuid to match the webhook\'s message_id', async () => {
    setup = await setUpChatbot(database(), [], { rapidpro: { variant: 'weni' } });
    const contact = setup.rapidpro.addContact({ urn: 'telegram:4716' }).uuid;
    const bot = setup.bot();
    await bot.say({ contact, session: 's-w', text: 'first' });
    await bot.say({ contact, session: 's-w', text: 'second' });
    await setup.pass(setup.handoff);
    expect((await chatRows(setup)).map((r) => r.body)).toEqual(['first', 'second']);
    expect(messageRequests(setup).length).toBeGreaterThan(0);
  });

  it('answers a webhook that comes after polling found its message like the first, storing it once', async () => {
    setup = await setUpChatbot(database());
    const contact = setup.rapidpro.addContact({ urn: 'telegram:4713' }).uuid;
    const bot = setup.bot();
    await bot.say({ contact, session: 's-3', text: 'first' });
    const late = setup.rapidpro.clientSays(contact, 'late');
    await setup.pass(setup.handoff);
    const answer = await setup.call('POST', 'chat/', { json: { chat_session: 's-3', chat_sender: 'x', chat_message: 'late', message_id: late.uuid }, token: await setup.token() });
    expect(answer).toMatchObject({ status: 200, body: { status: 'received', handoff: 1, message_id: late.uuid } });
    expect((await chatRows(setup)).map((r) => r.body)).toEqual(['first', 'late']);
  });

  it('honours a 429\'s Retry-After, and shows the last hour\'s requests in status --json', async () => {
    setup = await setUpChatbot(database(), [], { rapidpro: { rateLimit: { requests: 1, per: 'hour' } } });
    const contact = setup.rapidpro.addContact({ urn: 'telegram:4714' }).uuid;
    await setup.bot().say({ contact, session: 's-4', text: 'hi' });
    await setup.bot().say({ contact: setup.rapidpro.addContact({ urn: 'telegram:4715' }).uuid, session: 's-5', text: 'hi too' });
    await setup.pass(setup.handoff); // one request admitted, the next refused with Retry-After
    expect(setup.rapidpro.usage.throttled).toBe(1);
    const before = setup.rapidpro.requests.length;
    await setup.pass(setup.handoff);
    expect(setup.rapidpro.requests.length).toBe(before);
    const status = await setup.cli('status', '--json');
    const details = status.json().integrations.find((i: any) => i.service === 'chatbot_handoff_v1').details;
    expect(details.rapidpro).toMatchObject({ requests_last_hour: 2, throttled_last_hour: 1, budget_per_hour: 2500, blocked_until: expect.any(String) });
  });

  it('stops polling at its share of --rapidpro-budget-per-hour', async () => {
    setup = await setUpChatbot(database(), ['--rapidpro-budget-per-hour', '3']);
    for (const n of [1, 2, 3, 4]) await setup.bot().say({ contact: setup.rapidpro.addContact({ urn: `telegram:48${n}` }).uuid, session: `b-${n}`, text: 'hi' });
    await setup.pass(setup.handoff);
    await setup.pass(setup.handoff);
    // Polling may use 80% of 3 an hour (2.4): it stops after its third request, over two passes.
    expect(messageRequests(setup)).toHaveLength(3);
    // An hour later the budget is free again.
    await sql`UPDATE chatbot_rapidpro_usage SET minute = minute - interval '2 hours'`.execute(setup.engine.db);
    await sql`UPDATE chatbot_handoffs SET polled_at = polled_at - interval '2 hours'`.execute(setup.engine.db);
    await setup.pass(setup.handoff);
    expect(messageRequests(setup)).toHaveLength(6);
  });
});
