/**
 * Providers failing 30% of calls (seeded): 429 with Retry-After, 500, connection resets,
 * and — SignalWire only — sends whose answer is lost. Everything converges, each message
 * delivered exactly once. (Front answers lost after accepting an import are a known gap:
 * Front offers no way to look an import up, see docs/operations.md.)
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fault } from '../../src/simulators/faults.ts';
import { CHANNEL_ID, setUpChannel, SUPPORT, type ChannelSetup } from '../helpers/channel.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { waitFor } from '../helpers/wait.ts';

const database = useTestDatabase();
let setup: ChannelSetup;
const N = 15;

function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

beforeAll(async () => {
  setup = await setUpChannel(database());
  await setup.frontClient.authorize(CHANNEL_ID);
});
afterAll(() => setup.close());

describe('providers failing 30% of calls', () => {
  it('converge, each message delivered exactly once', { timeout: 90_000 }, async () => {
    const common: Fault[] = [
      { kind: 'status', status: 429, headers: { 'retry-after': '1' }, body: { code: 20429, message: 'Too Many Requests' } },
      { kind: 'status', status: 500, body: {} },
      { kind: 'reset' },
    ];
    Object.assign(setup.signalwire.faults, { rate: 0.3, kinds: [...common, { kind: 'lost-response' }], random: seeded(11) });
    Object.assign(setup.front.faults, { rate: 0.3, kinds: common, random: seeded(17) });
    await setup.startWorker();

    const hook = `${setup.publicUrl}/v1/service_integrations/${setup.sw.opaque_id}`;
    const clients = Array.from({ length: N }, (_, i) => `+1555002${String(1000 + i)}`);
    for (const [i, client] of clients.entries()) {
      await setup.signalwire.receiveInbound({ from: client, to: SUPPORT, body: `in ${i}` }, hook);
      await setup.frontClient.message({ id: `msg_f${i}`, channelId: CHANNEL_ID, text: `out ${i}`, to: [client] });
    }
    await waitFor(
      async () => {
        const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM front_signalwire_message_channel_app_v1 WHERE delivery_status = 'pending'`.execute(database().db);
        return rows[0]!.n === 0;
      },
      { timeoutMs: 80_000, intervalMs: 250, what: 'convergence under faults' },
    );
    const injected = setup.signalwire.faults.injected;
    expect(injected.status + injected.reset + injected['lost-response']).toBeGreaterThan(0);
    const rows = await setup.rows();
    expect(rows.map((r) => r.delivery_status)).toEqual(Array(2 * N).fill('delivered'));
    const sentTo = setup.signalwire.sent().map((m) => m.to).sort();
    expect(sentTo).toEqual([...clients].sort());
    const imported = setup.front.inbox.map((m) => m.body).sort();
    expect(imported).toEqual(clients.map((_, i) => `in ${i}`).sort());
  });
});
