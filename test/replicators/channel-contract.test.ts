/**
 * What every Front channel replicator promises, run over each of them (describe.each):
 * Front's requests upsert idempotently, a delivered row is never overwritten by a later
 * copy, a reply is sent and a client's message imported once even when the provider's
 * answer is lost, nothing older than 48 hours goes out, and the channel's notice to the
 * counsellor is posted once. Each channel says how a client writes to it and what its
 * notice is; the rest is the same test.
 */
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { NO_SMS_NOTICE } from '../../src/replicators/front-ussd-channel-app-v1.ts';
import { failedNotice } from '../../src/replicators/front-chatbot-channel-app-v1/status.ts';
import { dial } from '../../src/simulators/ussd.ts';
import { CHANNEL_ID, CUSTOMER, setUpChannel, SUPPORT, type ChannelSetup } from '../helpers/channel.ts';
import { setUpChatbot, type ChatbotSetup } from '../helpers/chatbot.ts';
import { useTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { waitFor } from '../helpers/wait.ts';

/** What the contract reads of a channel's setup, whichever provider it runs over. */
type ContractSetup = Pick<ChannelSetup, 'front' | 'frontClient' | 'channel' | 'pass' | 'rows' | 'close'>;

interface ChannelCase<S extends ContractSetup = any> {
  service: string;
  /** The channel and its provider, connected to Front as CHANNEL_ID. */
  connect(database: TestDatabase): Promise<S>;
  /** Whom a counsellor's reply is addressed to (Front's recipient handle). */
  client: string;
  /** The column of the provider's id of a message. */
  counterpart: string;
  /** The replies the provider received, as the client reads them. */
  sent(setup: S): (string | null)[];
  /** What the client reads of a reply `text`. */
  asSent(text: string): string;
  /** The provider's id of the reply it received first. */
  firstSentId(setup: S): string;
  /** The provider does the next send but its answer is lost. */
  loseNextSendAnswer(setup: S): void;
  /** What the provider tells us on its own after such a send (a status receipt), if anything. */
  afterLostSend?(setup: S): Promise<void>;
  /** The client writes `text` to the helpline through this channel (and, where it asks, agrees to SMS replies). */
  clientWrites(setup: S, text: string): Promise<void>;
  /** Make the channel owe the counsellor a notice about a reply; what Front's inbox then holds (the notice, after any client message it took). */
  causeNotice(setup: S): Promise<string[]>;
}

const hookUrl = (setup: ChannelSetup) => `${setup.publicUrl}/v1/service_integrations/${setup.sw.opaque_id}`;
const waHookUrl = (setup: ChannelSetup) => `${setup.publicUrl}/v1/service_integrations/${setup.wa!.opaque_id}`;

/** The SMS transport's side of a case (the SMS and USSD channels). */
const BY_SMS = {
  client: CUSTOMER,
  counterpart: 'signalwire_sid',
  sent: (setup: ChannelSetup) => setup.signalwire.sent().map((m) => m.body),
  asSent: (text: string) => text,
  firstSentId: (setup: ChannelSetup) => setup.signalwire.sent()[0]!.sid,
  loseNextSendAnswer: (setup: ChannelSetup) => void setup.signalwire.faults.script.push({ kind: 'lost-response' }),
};

async function frontChannel(database: TestDatabase, options: { ussd: boolean; whatsapp?: boolean }): Promise<ChannelSetup> {
  const setup = await setUpChannel(database, {}, options);
  await setup.frontClient.authorize(CHANNEL_ID);
  setup.channel = await setup.reload(setup.channel);
  return setup;
}

/** The chatbot's client, a RapidPro contact, in handoff 1 of session `s-1`. */
const CHATBOT_CLIENT = 's-1#1';
const chatbotContact = (setup: ChatbotSetup) => setup.rapidpro.contact('whatsapp:15550002222') ?? setup.rapidpro.addContact({ urn: 'whatsapp:15550002222' });

const CHANNELS: ChannelCase[] = [
  {
    service: 'front_signalwire_message_channel_app_v1',
    connect: (database) => frontChannel(database, { ussd: false }),
    ...BY_SMS,
    async clientWrites(setup: ChannelSetup, text: string) {
      await setup.signalwire.receiveInbound({ from: CUSTOMER, to: SUPPORT, body: text }, hookUrl(setup));
    },
    // A reply whose SMS the carrier fails, reported twice (failed, then undelivered after the notice went).
    async causeNotice(setup: ChannelSetup) {
      await setup.frontClient.message({ id: 'msg_fails', channelId: CHANNEL_ID, text: 'will fail', to: [CUSTOMER] });
      await setup.pass(setup.channel);
      const [sent] = setup.signalwire.sent();
      await setup.signalwire.setStatus(sent!.sid, 'failed', { errorCode: '30008', errorMessage: 'Unknown error', callbackUrl: hookUrl(setup) });
      await setup.pass(setup.channel);
      await setup.signalwire.setStatus(sent!.sid, 'undelivered', { errorCode: '30003', errorMessage: 'Unreachable', callbackUrl: hookUrl(setup) });
      return ['SMS failed to send. Error (30008): Unknown error\nwill fail'];
    },
  },
  {
    service: 'front_ussd_channel_app_v1',
    connect: (database) => frontChannel(database, { ussd: true }),
    ...BY_SMS,
    async clientWrites(setup: ChannelSetup, text: string) {
      const { session } = await dial(`${setup.publicUrl}/v1/ussd/africastalking/${setup.ussd!.opaque_id}`, { gateway: 'africastalking', msisdn: CUSTOMER });
      await session.send('1');
      await session.send(text);
      await session.send('1'); // yes to SMS replies
    },
    // A reply to a client who never agreed to SMS: it waits for their next dial, and Front is told.
    async causeNotice(setup: ChannelSetup) {
      await setup.frontClient.message({ id: 'msg_nosms', channelId: CHANNEL_ID, text: 'for the next dial', to: [CUSTOMER] });
      return [NO_SMS_NOTICE];
    },
  },
  {
    service: 'front_whatsapp_channel_app_v1',
    connect: (database) => frontChannel(database, { ussd: false, whatsapp: true }),
    client: CUSTOMER,
    asSent: (text: string) => text,
    counterpart: 'whatsapp_wamid',
    sent: (setup: ChannelSetup) => setup.whatsapp!.sent().map((m) => (m.request.text as { body?: string } | undefined)?.body ?? null),
    firstSentId: (setup: ChannelSetup) => setup.whatsapp!.sent()[0]!.wamid,
    loseNextSendAnswer: (setup: ChannelSetup) => void setup.whatsapp!.faults.script.push({ kind: 'lost-response' }),
    // Meta's receipt of the send, carrying our tag back.
    async afterLostSend(setup: ChannelSetup) {
      await setup.whatsapp!.sendStatus(setup.whatsapp!.sent()[0]!.wamid, 'sent', waHookUrl(setup));
    },
    async clientWrites(setup: ChannelSetup, text: string) {
      await setup.whatsapp!.receiveInbound({ from: CUSTOMER.slice(1), type: 'text', fields: { text: { body: text } } }, waHookUrl(setup));
    },
    // A reply WhatsApp accepts and then fails (131026), its receipt delivered twice.
    async causeNotice(setup: ChannelSetup) {
      await setup.whatsapp!.receiveInbound({ from: CUSTOMER.slice(1), type: 'text', fields: { text: { body: 'hi' } } }, waHookUrl(setup));
      await setup.pass(setup.channel);
      await setup.frontClient.message({ id: 'msg_fails', channelId: CHANNEL_ID, text: 'will fail', to: [CUSTOMER] });
      await setup.pass(setup.channel);
      const [sent] = setup.whatsapp!.sent();
      await setup.whatsapp!.sendStatus(sent!.wamid, 'failed', waHookUrl(setup), { errorCode: 131026, errorTitle: 'Message undeliverable' });
      await setup.pass(setup.channel);
      await setup.whatsapp!.sendStatus(sent!.wamid, 'failed', waHookUrl(setup), { errorCode: 131026, errorTitle: 'Message undeliverable' });
      return ['hi', 'WhatsApp message failed to send. Error (131026): Message undeliverable\nwill fail'];
    },
  },
  {
    service: 'front_chatbot_channel_app_v1',
    connect: (database) => setUpChatbot(database, [], { channelId: CHANNEL_ID }),
    client: CHATBOT_CLIENT,
    counterpart: 'rapidpro_message_uuid',
    sent: (setup: ChatbotSetup) => setup.rapidpro.sent().map((m) => m.text),
    // Signed with the counsellor's first name (the Front simulator's teammate is Ada).
    asSent: (text: string) => `Ada: ${text}`,
    firstSentId: (setup: ChatbotSetup) => setup.rapidpro.sent()[0]!.uuid,
    loseNextSendAnswer: (setup: ChatbotSetup) => void setup.rapidpro.faultsFor('messages').script.push({ kind: 'lost-response' }),
    async clientWrites(setup: ChatbotSetup, text: string) {
      const { call } = await setup.bot().say({ contact: chatbotContact(setup).uuid, session: 's-1', text });
      expect(call.status).toBe(200);
    },
    // A reply RapidPro takes and then fails, seen failing by two passes.
    async causeNotice(setup: ChatbotSetup) {
      const contact = chatbotContact(setup);
      await setup.bot().say({ contact: contact.uuid, session: 's-1', text: 'hi' });
      setup.rapidpro.failingContacts.add(contact.uuid);
      await setup.frontClient.message({ id: 'msg_fails', channelId: CHANNEL_ID, text: 'will fail', to: [CHATBOT_CLIENT] });
      await setup.pass(setup.channel);
      setup.rapidpro.advanceAll();
      setup.rapidpro.advanceAll();
      // A minute on, the reply's status is read again (status.ts).
      await sql`UPDATE front_chatbot_channel_app_v1 SET rapidpro_checked_at = NULL`.execute(setup.engine.db);
      return ['hi', failedNotice('will fail')];
    },
  },
];

const database = useTestDatabase();
let setup: ContractSetup | undefined;
afterEach(async () => {
  await setup?.close();
  setup = undefined;
});

describe.each(CHANNELS)('$service', (channel) => {
  async function connected() {
    setup = await channel.connect(database());
    return setup!;
  }
  const table = sql.table(channel.service);
  /** Make rows that are backing off due now, instead of waiting for their delay. */
  const dueNow = () => sql`UPDATE ${table} SET next_attempt_at = now()`.execute(database().db);
  const reply = (s: ContractSetup, input: { id: string; text: string; createdAt?: number }) =>
    s.frontClient.message({ channelId: CHANNEL_ID, to: [channel.client], ...input });

  it('upserts a repeated Front request once, answering it the same way each time', async () => {
    const s = await connected();
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push((await reply(s, { id: 'msg_again', text: 'once' })).json());
    expect(answers).toEqual(Array(3).fill({ type: 'success', external_id: `msg_again-${channel.client}`, external_conversation_id: channel.client }));
    expect((await s.rows()).map((r) => [r.external_id, r.body])).toEqual([[`msg_again-${channel.client}`, 'once']]);
  });

  it('never overwrites a delivered row with a later copy of its request', async () => {
    const s = await connected();
    await channel.clientWrites(s, 'hello');
    await reply(s, { id: 'msg_kept', text: 'first words' });
    await s.pass(s.channel);
    await reply(s, { id: 'msg_kept', text: 'edited words' });
    await s.pass(s.channel);
    const row = (await s.rows()).find((r) => r.front_message_id === 'msg_kept');
    expect(row).toMatchObject({ body: 'first words', delivery_status: 'delivered' });
    expect(row!.data.payload.text).toBe('first words');
    expect(channel.sent(s)).toEqual([channel.asSent('first words')]);
  });

  it('sends a reply once when the answer to its send was lost', async () => {
    const s = await connected();
    await channel.clientWrites(s, 'are you there?');
    channel.loseNextSendAnswer(s);
    await reply(s, { id: 'msg_lost', text: 'we are here' });
    await s.pass(s.channel);
    await channel.afterLostSend?.(s);
    await dueNow();
    await s.pass(s.channel);
    expect(channel.sent(s)).toEqual([channel.asSent('we are here')]);
    expect((await s.rows()).find((r) => r.front_message_id === 'msg_lost')).toMatchObject({ delivery_status: 'delivered', [channel.counterpart]: channel.firstSentId(s) });
  });

  it('imports a client\'s message once when the answer to its import was lost', async () => {
    const s = await connected();
    s.front.faults.script.push({ kind: 'lost-response' });
    await channel.clientWrites(s, 'did this arrive?');
    await s.pass(s.channel);
    await waitFor(() => s.front.notices.length === 1 && s.front.notices[0]!.status !== null, { what: 'the message_imported notice' });
    await s.pass(s.channel);
    expect(s.front.inbox.map((m) => m.body)).toEqual(['did this arrive?']);
    expect((await s.rows()).find((r) => r.direction === 'inbound')).toMatchObject({ delivery_status: 'delivered', front_message_id: expect.stringMatching(/^msg_/) });
  });

  it('skips a reply written more than 48 hours ago', async () => {
    const s = await connected();
    await channel.clientWrites(s, 'long ago');
    await reply(s, { id: 'msg_old', text: 'too late', createdAt: Date.now() / 1000 - 49 * 3600 });
    await s.pass(s.channel);
    expect(channel.sent(s)).toHaveLength(0);
    expect((await s.rows()).find((r) => r.front_message_id === 'msg_old')).toMatchObject({ delivery_status: 'skipped', [channel.counterpart]: 'skipped_due_to_age' });
  });

  it('posts its notice to the counsellor once', async () => {
    const s = await connected();
    const inbox = await channel.causeNotice(s);
    for (let i = 0; i < 3; i++) {
      await s.pass(s.channel);
      await dueNow();
    }
    expect(s.front.inbox.map((m) => m.body)).toEqual(inbox);
  });
});
