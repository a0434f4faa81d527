/**
 * Providers failing 30% of calls (seeded): 429 with Retry-After, 500, connection resets,
 * and — SignalWire only — sends whose answer is lost. Everything converges, each message
 * delivered exactly once. (Front answers lost after accepting an import are a known gap:
 * Front offers no way to look an import up, see docs/operations.md. Timeouts, which cost
 * 15 s each, are in `npm run soak`.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNEL_ID, setUpChannel, type ChannelSetup } from '../helpers/channel.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { providerFaults } from '../helpers/reliability.ts';

const database = useTestDatabase();
let setup: ChannelSetup;
const N = 15;

beforeAll(async () => {
  setup = await setUpChannel(database());
  await setup.frontClient.authorize(CHANNEL_ID);
});
afterAll(() => setup.close());

describe('providers failing 30% of calls', () => {
  it('converge, each message delivered exactly once', { timeout: 90_000 }, async () => {
    const result = await providerFaults(setup, { perDirection: N, rate: 0.3, timeoutMs: 80_000 });
    expect(result).toMatchObject({ messages: 2 * N, duplicates: 0, lost: 0 });
    expect(result.faultsInjected).toBeGreaterThan(0);
    expect((await setup.rows()).map((r) => r.delivery_status)).toEqual(Array(2 * N).fill('delivered'));
  });
});
