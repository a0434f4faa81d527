/**
 * Every webhook delivered three times, in random order (seeded): SignalWire inbound
 * messages and status callbacks, Front messages, and USSD hops. Converged: one row per
 * message (and per hop), one Front import per inbound SMS or USSD message, one SMS per reply
 * recipient.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNEL_ID, setUpChannel, SUPPORT, type ChannelSetup } from '../helpers/channel.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { waitFor } from '../helpers/wait.ts';
import { signSignalWireRequest } from '../../src/simulators/signalwire.ts';
import { dial } from '../../src/simulators/ussd.ts';

const database = useTestDatabase();
let setup: ChannelSetup;

beforeAll(async () => {
  setup = await setUpChannel(database());
  await setup.frontClient.authorize(CHANNEL_ID);
});
afterAll(() => setup?.close());

/** Deterministic shuffle (mulberry32), so a failure can be replayed. */
function shuffle<T>(items: T[], seed: number): T[] {
  let state = seed;
  const random = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('duplicated and reordered webhooks', () => {
  it('converge to one row and one delivery per message', async () => {
    const hook = `${setup.publicUrl}/v1/service_integrations/${setup.sw.opaque_id}`;
    const clients = Array.from({ length: 6 }, (_, i) => `+1555000${String(5000 + i)}`);
    const inbound = clients.map((from, i) => {
      const params: [string, string][] = [
        ['MessageSid', `SM${String(i).padStart(32, '0')}`],
        ['AccountSid', setup.signalwire.projectId],
        ['From', from],
        ['To', SUPPORT],
        ['Body', `help ${i}`],
        ['NumMedia', '0'],
        ['SmsStatus', 'received'],
      ];
      return () =>
        fetch(hook, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-signalwire-signature': signSignalWireRequest(setup.signalwire.signingKey, hook, params) },
          body: new URLSearchParams(params).toString(),
        }).then((r) => expect(r.status).toBe(200));
    });
    const replies = clients.slice(0, 4).map((to, i) => {
      const body = { type: 'message', payload: { id: `msg_dup${i}`, text: `reply ${i}`, created_at: Date.now() / 1000, recipients: [{ handle: to, role: 'to' }] } };
      return () => setup.frontClient.raw({ body }).then((r) => expect(r.status).toBe(200));
    });
    const requests = shuffle([...inbound, ...inbound, ...inbound, ...replies, ...replies, ...replies], 20261123);
    await setup.startWorker();
    // A few at a time, like real senders retrying while others arrive.
    for (let i = 0; i < requests.length; i += 4) await Promise.all(requests.slice(i, i + 4).map((send) => send()));

    await waitFor(
      async () => {
        const { rows } = await sql<{ pending: number }>`
          SELECT count(*)::int AS pending FROM front_signalwire_message_channel_app_v1 WHERE delivery_status = 'pending'`.execute(database().db);
        return setup.front.inbox.length >= 6 && setup.signalwire.sent().length >= 4 && rows[0]!.pending === 0;
      },
      { timeoutMs: 30_000, what: 'convergence' },
    );
    await new Promise((r) => setTimeout(r, 1000));

    expect((await setup.rows()).length).toBe(10);
    const { rows: sw } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM signalwire_message_v1`.execute(database().db);
    expect(sw[0]!.n).toBe(6);
    expect(setup.front.inbox.map((m) => m.externalId).sort()).toEqual(clients.map((_, i) => `SM${String(i).padStart(32, '0')}`).sort());
    expect(setup.signalwire.sent().map((m) => m.to).sort()).toEqual(clients.slice(0, 4).sort());

    // Status callbacks for those SMS, each three times and out of order ('sent' after 'delivered').
    const callbacks = setup.signalwire.sent().flatMap((message) =>
      (['sent', 'delivered'] as const).map((status) => () => {
        const params: [string, string][] = [
          ['MessageSid', message.sid],
          ['AccountSid', setup.signalwire.projectId],
          ['From', message.from],
          ['To', message.to],
          ['MessageStatus', status],
        ];
        return fetch(hook, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-signalwire-signature': signSignalWireRequest(setup.signalwire.signingKey, hook, params) },
          body: new URLSearchParams(params).toString(),
        }).then((r) => expect(r.status).toBe(200));
      }),
    );
    const deliveredFirst = shuffle([...callbacks, ...callbacks, ...callbacks], 7).sort((a, b) => callbacks.indexOf(b) % 2 - callbacks.indexOf(a) % 2);
    for (const send of deliveredFirst) await send();
    const { rows: statuses } = await sql<{ status: string; n: number }>`
      SELECT status, count(*)::int AS n FROM signalwire_message_v1 WHERE direction IS DISTINCT FROM 'inbound' GROUP BY status`.execute(database().db);
    expect(statuses).toEqual([{ status: 'delivered', n: 4 }]);
    expect(setup.front.inbox).toHaveLength(6);
    expect(setup.signalwire.sent()).toHaveLength(4);
  });
});

describe('duplicated and reordered USSD hops', () => {
  it('are answered as the first time, processed once, and hand the message to Front once', async () => {
    await setup.close();
    setup = await setUpChannel(database(), {}, { ussd: true });
    await setup.frontClient.authorize('cha_ussd');
    await setup.startWorker();
    const url = `${setup.publicUrl}/v1/ussd/africastalking/${setup.ussd!.opaque_id}`;
    const { session } = await dial(url, { gateway: 'africastalking', msisdn: '+254712300001' });
    await session.send('1');
    await session.send('please call me back');
    await session.send('1');
    expect(session.ended).toBe(true);
    // The gateway retrying every hop twice more, late and out of order.
    const repeats = shuffle([...session.hops, ...session.hops], 4242);
    for (const hop of repeats) {
      const again = await fetch(url, { method: 'POST', headers: { 'content-type': hop.request.contentType }, body: hop.request.body });
      expect([again.status, await again.text()]).toEqual([200, hop.body]);
    }
    await waitFor(() => setup.front.inbox.length >= 1, { what: 'the message in Front' });
    await new Promise((r) => setTimeout(r, 1000));
    // Every request is kept; the repeats point at the first of each hop and are not processed again.
    const { rows } = await sql<{ hops: number; repeats: number }>`
      SELECT count(*) FILTER (WHERE replay_of IS NULL)::int AS hops, count(*) FILTER (WHERE replay_of IS NOT NULL)::int AS repeats
      FROM ussd_request_v1`.execute(database().db);
    expect(rows[0]).toEqual({ hops: 4, repeats: 8 });
    expect(setup.front.inbox.map((m) => m.body)).toEqual(['please call me back']);
    expect((await setup.rows()).map((r) => r.delivery_status)).toEqual(['delivered']);
  });
});
