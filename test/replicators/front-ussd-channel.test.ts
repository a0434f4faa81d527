/**
 * The USSD helpline end to end, worker running: a USSD message reaches the simulated
 * Front, the counsellor's reply reaches the client by SMS (when agreed; otherwise Front gets
 * a notice saying so) and under "Read replies" at the next dial — each exactly once.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_SMS_NOTICE } from '../../src/replicators/front-ussd-channel-app-v1.ts';
import { defaultRegistry } from '../../src/replicators/index.ts';
import { dial } from '../../src/simulators/ussd.ts';
import { CUSTOMER, CUSTOMER_2, setUpChannel, SUPPORT, type ChannelSetup } from '../helpers/channel.ts';
import { runCli } from '../helpers/cli.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { waitFor } from '../helpers/wait.ts';

const database = useTestDatabase();
let setup: ChannelSetup;
const CHANNEL = 'cha_ussd';

beforeAll(async () => {
  setup = await setUpChannel(database(), {}, { ussd: true });
  await setup.frontClient.authorize(CHANNEL);
  await setup.startWorker();
});
afterAll(() => setup.close());

const ussdUrl = () => `${setup.publicUrl}/v1/ussd/africastalking/${setup.ussd!.opaque_id}`;
const settle = () => new Promise((r) => setTimeout(r, 1500));

async function talk(msisdn: string, message: string, consent: '1' | '2') {
  const { session } = await dial(ussdUrl(), { gateway: 'africastalking', msisdn });
  await session.send('1');
  await session.send(message);
  return session.send(consent);
}

describe('the USSD helpline through Front', () => {
  it('a typed message reaches Front once, as the client, in the conversation of their number', async () => {
    const done = await talk(CUSTOMER, 'I need someone to talk to', '1');
    expect(done.screen.end).toBe(true);
    await waitFor(() => setup.front.inbox.length === 1, { what: 'import into Front' });
    await settle();
    expect(setup.front.inbox).toMatchObject([
      { channelId: CHANNEL, kind: 'inbound', senderHandle: CUSTOMER, body: 'I need someone to talk to', externalConversationId: CUSTOMER },
    ]);
  });

  it('a reply goes out by SMS once (the client agreed) and is read once at the next dial', async () => {
    await setup.frontClient.message({ id: 'msg_reply1', channelId: CHANNEL, text: 'We are here for you.', to: [CUSTOMER] });
    await waitFor(() => setup.signalwire.sent().length === 1, { what: 'the SMS reply' });
    await settle();
    expect(setup.signalwire.sent().map((m) => [m.from, m.to, m.body])).toEqual([[SUPPORT, CUSTOMER, 'We are here for you.']]);

    const { session, first } = await dial(ussdUrl(), { gateway: 'africastalking', msisdn: CUSTOMER });
    expect(first.screen.text).toContain('Read replies (1 new)');
    const replies = await session.send('2');
    expect(replies.screen.end).toBe(true);
    expect(replies.screen.text).toContain('We are here for you.');
    const again = await dial(ussdUrl(), { gateway: 'africastalking', msisdn: CUSTOMER });
    expect(again.first.screen.text).toContain('Read replies (0 new)');
    expect((await setup.rows()).find((r) => r.front_message_id === 'msg_reply1')).toMatchObject({ delivery_status: 'delivered', read_at: expect.any(Date) });
  });

  it('without consent, no SMS: the reply waits under Read replies, and Front is told so once', async () => {
    await talk(CUSTOMER_2, 'please do not text me', '2');
    await waitFor(() => setup.front.inbox.some((m) => m.senderHandle === CUSTOMER_2), { what: 'import into Front' });
    await setup.frontClient.message({ id: 'msg_reply2', channelId: CHANNEL, text: 'Call us when you can.', to: [CUSTOMER_2] });
    await waitFor(async () => (await setup.rows()).find((r) => r.front_message_id === 'msg_reply2')?.delivery_status === 'skipped', { what: 'the reply to settle' });
    expect(setup.signalwire.sent().filter((m) => m.to === CUSTOMER_2)).toEqual([]);
    await waitFor(() => setup.front.inbox.some((m) => m.body === NO_SMS_NOTICE), { what: 'the notice in Front' });
    await settle();
    expect(setup.front.inbox.filter((m) => m.body === NO_SMS_NOTICE)).toMatchObject([{ channelId: CHANNEL, senderHandle: CUSTOMER_2, externalConversationId: CUSTOMER_2 }]);
    // The notice is not the client's message: the conversation still counts one from them, answered.
    const { rows } = await sql<{ inbound_messages: number; unanswered: boolean }>`
      SELECT inbound_messages, unanswered FROM conversations WHERE conversation_id = ${CUSTOMER_2}`.execute(setup.engine.db);
    expect(rows).toEqual([{ inbound_messages: 1, unanswered: false }]);
    const { session, first } = await dial(ussdUrl(), { gateway: 'africastalking', msisdn: CUSTOMER_2 });
    expect(first.screen.text).toContain('Read replies (1 new)');
    expect((await session.send('2')).screen.text).toContain('Call us when you can.');
  });
});

describe('a client who hangs up before answering everything', () => {
  it('has their message in Front anyway, with no SMS consent; a "*" in it is kept', async () => {
    const { session } = await dial(ussdUrl(), { gateway: 'africastalking', msisdn: '+15550004444' });
    await session.send('1');
    await session.send('help * now');
    await session.release();
    await waitFor(() => setup.front.inbox.some((m) => m.senderHandle === '+15550004444'), { what: 'import into Front' });
    expect(setup.front.inbox.filter((m) => m.senderHandle === '+15550004444').map((m) => m.body)).toEqual(['help * now']);
    expect((await setup.rows()).find((r) => r.sender === '+15550004444')).toMatchObject({ sms_consent: null });
  });
});

describe('with the SMS channel on the same number', () => {
  it('the SMS channel does not import the USSD channel\'s SMS replies as messages sent outside Front', async () => {
    const sms = await runCli(database().url, ['integrations', 'create', 'front_signalwire_message_channel_app_v1', '--depends-on', String(setup.sw.id), '--phone', SUPPORT, '--json'], {
      env: { PUBLIC_URL: setup.publicUrl },
      registry: defaultRegistry(),
    });
    expect(sms.code).toBe(0);
    const sent = setup.signalwire.sent();
    expect(sent.length).toBeGreaterThan(0);
    const smsChannel = await setup.reload({ ...setup.channel, id: sms.json().id });
    await setup.pass(setup.sw);
    await setup.pass(smsChannel);
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM front_signalwire_message_channel_app_v1 WHERE integration_id = ${smsChannel.id} AND direction = 'outbound'`.execute(database().db);
    expect(rows[0]!.n).toBe(0);
  });
});
