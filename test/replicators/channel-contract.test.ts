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
import { dial } from '../../src/simulators/ussd.ts';
import { CHANNEL_ID, CUSTOMER, setUpChannel, SUPPORT, type ChannelSetup } from '../helpers/channel.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { waitFor } from '../helpers/wait.ts';

interface ChannelCase {
  service: string;
  ussd: boolean;
  whatsapp: boolean;
  /** The column of the provider's id of a message. */
  counterpart: string;
  /** The replies the provider received, as text. */
  sent(setup: ChannelSetup): (string | null)[];
  /** The provider's id of the reply it received first. */
  firstSentId(setup: ChannelSetup): string;
  /** The provider does the next send but its answer is lost. */
  loseNextSendAnswer(setup: ChannelSetup): void;
  /** What the provider tells us on its own after such a send (a status receipt), if anything. */
  afterLostSend(setup: ChannelSetup): Promise<void>;
  /** The client writes `text` to the helpline through this channel (and, where it asks, agrees to SMS replies). */
  clientWrites(setup: ChannelSetup, text: string): Promise<void>;
  /** Make the channel owe the counsellor a notice about a reply; what Front's inbox then holds (the notice, after any client message it took). */
  causeNotice(setup: ChannelSetup): Promise<string[]>;
}

const hookUrl = (setup: ChannelSetup) => `${setup.publicUrl}/v1/service_integrations/${setup.sw.opaque_id}`;
const waHookUrl = (setup: ChannelSetup) => `${setup.publicUrl}/v1/service_integrations/${setup.wa!.opaque_id}`;

/** The SMS transport's side of a case (the SMS and USSD channels). */
const BY_SMS = {
  whatsapp: false,
  counterpart: 'signalwire_sid',
  sent: (setup: ChannelSetup) => setup.signalwire.sent().map((m) => m.body),
  firstSentId: (setup: ChannelSetup) => setup.signalwire.sent()[0]!.sid,
  loseNextSendAnswer: (setup: ChannelSetup) => void setup.signalwire.faults.script.push({ kind: 'lost-response' }),
  // SignalWire says nothing: the channel looks the message up itself.
  afterLostSend: async () => {},
};

const CHANNELS: ChannelCase[] = [
  {
    service: 'front_signalwire_message_channel_app_v1',
    ussd: false,
    ...BY_SMS,
    async clientWrites(setup, text) {
      await setup.signalwire.receiveInbound({ from: CUSTOMER, to: SUPPORT, body: text }, hookUrl(setup));
    },
    // A reply whose SMS the carrier fails, reported twice (failed, then undelivered after the notice went).
    async causeNotice(setup) {
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
    ussd: true,
    ...BY_SMS,
    async clientWrites(setup, text) {
      const { session } = await dial(`${setup.publicUrl}/v1/ussd/africastalking/${setup.ussd!.opaque_id}`, { gateway: 'africastalking', msisdn: CUSTOMER });
      await session.send('1');
      await session.send(text);
      await session.send('1'); // yes to SMS replies
    },
    // A reply to a client who never agreed to SMS: it waits for their next dial, and Front is told.
    async causeNotice(setup) {
      await setup.frontClient.message({ id: 'msg_nosms', channelId: CHANNEL_ID, text: 'for the next dial', to: [CUSTOMER] });
      return [NO_SMS_NOTICE];
    },
  },
  {
    service: 'front_whatsapp_channel_app_v1',
    ussd: false,
    whatsapp: true,
    counterpart: 'whatsapp_wamid',
    sent: (setup) => setup.whatsapp!.sent().map((m) => (m.request.text as { body?: string } | undefined)?.body ?? null),
    firstSentId: (setup) => setup.whatsapp!.sent()[0]!.wamid,
    loseNextSendAnswer: (setup) => void setup.whatsapp!.faults.script.push({ kind: 'lost-response' }),
    // Meta's receipt of the send, carrying our tag back.
    async afterLostSend(setup) {
      await setup.whatsapp!.sendStatus(setup.whatsapp!.sent()[0]!.wamid, 'sent', waHookUrl(setup));
    },
    async clientWrites(setup, text) {
      await setup.whatsapp!.receiveInbound({ from: CUSTOMER.slice(1), type: 'text', fields: { text: { body: text } } }, waHookUrl(setup));
    },
    // A reply WhatsApp accepts and then fails (131026), its receipt delivered twice.
    async causeNotice(setup) {
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
];

const database = useTestDatabase();
let setup: ChannelSetup | undefined;
afterEach(async () => {
  await setup?.close();
  setup = undefined;
});

describe.each(CHANNELS)('$service', (channel) => {
  async function connected() {
    setup = await setUpChannel(database(), {}, { ussd: channel.ussd, whatsapp: channel.whatsapp });
    await setup.frontClient.authorize(CHANNEL_ID);
    setup.channel = await setup.reload(setup.channel);
    return setup;
  }
  const table = sql.table(channel.service);
  /** Make rows that are backing off due now, instead of waiting for their delay. */
  const dueNow = () => sql`UPDATE ${table} SET next_attempt_at = now()`.execute(database().db);
  const reply = (s: ChannelSetup, input: { id: string; text: string; createdAt?: number }) =>
    s.frontClient.message({ channelId: CHANNEL_ID, to: [CUSTOMER], ...input });

  it('upserts a repeated Front request once, answering it the same way each time', async () => {
    const s = await connected();
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push((await reply(s, { id: 'msg_again', text: 'once' })).json());
    expect(answers).toEqual(Array(3).fill({ type: 'success', external_id: `msg_again-${CUSTOMER}`, external_conversation_id: CUSTOMER }));
    expect((await s.rows()).map((r) => [r.external_id, r.body])).toEqual([[`msg_again-${CUSTOMER}`, 'once']]);
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
    expect(channel.sent(s)).toEqual(['first words']);
  });

  it('sends a reply once when the answer to its send was lost', async () => {
    const s = await connected();
    await channel.clientWrites(s, 'are you there?');
    channel.loseNextSendAnswer(s);
    await reply(s, { id: 'msg_lost', text: 'we are here' });
    await s.pass(s.channel);
    await channel.afterLostSend(s);
    await dueNow();
    await s.pass(s.channel);
    expect(channel.sent(s)).toEqual(['we are here']);
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
