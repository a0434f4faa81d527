/**
 * End to end with the worker running, as in production: webhooks in, jobs converge,
 * providers receive each message exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNEL_ID, CUSTOMER, CUSTOMER_2, setUpChannel, SUPPORT, type ChannelSetup } from '../helpers/channel.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { waitFor } from '../helpers/wait.ts';

const database = useTestDatabase();
let setup: ChannelSetup;

beforeAll(async () => {
  setup = await setUpChannel(database());
  await setup.frontClient.authorize(CHANNEL_ID);
  await setup.startWorker();
});
afterAll(() => setup.close());

const settle = () => new Promise((r) => setTimeout(r, 1500));
const hookUrl = () => `${setup.publicUrl}/v1/service_integrations/${setup.sw.opaque_id}`;

describe('Front ⇄ SignalWire with the worker running', () => {
  it('an inbound SMS reaches the Front inbox once', async () => {
    const { message } = await setup.signalwire.receiveInbound({ from: CUSTOMER, to: SUPPORT, body: 'hello from a phone' }, hookUrl());
    await waitFor(() => setup.front.inbox.some((m) => m.externalId === message.sid), { what: 'import into Front' });
    await settle();
    expect(setup.front.inbox.filter((m) => m.externalId === message.sid)).toHaveLength(1);
  });

  it('a Front message to two recipients yields two SMS, each once', async () => {
    await setup.frontClient.message({ id: 'msg_e2e', channelId: CHANNEL_ID, text: 'reply to both', to: [CUSTOMER, CUSTOMER_2] });
    await waitFor(() => setup.signalwire.sent().filter((m) => m.body === 'reply to both').length === 2, { what: 'two SMS' });
    await settle();
    expect(setup.signalwire.sent().filter((m) => m.body === 'reply to both').map((m) => m.to).sort()).toEqual([CUSTOMER, CUSTOMER_2]);
  });

  it('a failed SMS yields one notice in Front', async () => {
    await setup.frontClient.message({ id: 'msg_fail', channelId: CHANNEL_ID, text: 'doomed', to: [CUSTOMER] });
    const sent = await waitFor(() => setup.signalwire.sent().find((m) => m.body === 'doomed'), { what: 'the SMS' });
    await setup.signalwire.setStatus(sent.sid, 'failed', { errorCode: '30003', errorMessage: 'Unreachable destination handset' });
    await setup.signalwire.setStatus(sent.sid, 'failed', { errorCode: '30003', errorMessage: 'Unreachable destination handset' });
    await waitFor(() => setup.front.inbox.some((m) => m.body.startsWith('SMS failed to send')), { what: 'the notice' });
    await settle();
    expect(setup.front.inbox.filter((m) => m.body.startsWith('SMS failed to send'))).toEqual([
      expect.objectContaining({ body: 'SMS failed to send. Error (30003): Unreachable destination handset\ndoomed', externalId: sent.sid }),
    ]);
  });

  it('a send whose response was lost is not sent twice', async () => {
    setup.signalwire.faults.script.push({ kind: 'lost-response' });
    await setup.frontClient.message({ id: 'msg_lost', channelId: CHANNEL_ID, text: 'lost answer', to: [CUSTOMER_2] });
    const rows = async () => (await setup.rows()).filter((r) => r.front_message_id === 'msg_lost');
    await waitFor(async () => (await rows())[0]?.delivery_status === 'delivered', { what: 'delivery after the lost response' });
    const sent = setup.signalwire.sent().filter((m) => m.body === 'lost answer');
    expect(sent).toHaveLength(1);
    expect((await rows())[0]!.signalwire_sid).toBe(sent[0]!.sid);
  });
});
