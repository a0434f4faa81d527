/**
 * Providers failing 30% of calls (seeded): 429 with Retry-After, 500, connection resets,
 * SignalWire sends and Front imports whose answer is lost after the provider did the
 * work. Everything converges, each message delivered exactly once: a lost SMS answer is
 * looked up in SignalWire, a lost import answer settled by Front's `message_imported`
 * notice. (Timeouts, which cost 15 s each, are in `npm run soak`.)
 */
import { describe, expect, it } from 'vitest';
import { providerFaults } from '../helpers/reliability.ts';
import { useChannel } from '../helpers/use-channel.ts';

const { setup } = useChannel();
const N = 15;

describe('providers failing 30% of calls', () => {
  it('converge, each message delivered exactly once', { timeout: 90_000 }, async () => {
    const result = await providerFaults(setup(), { perDirection: N, rate: 0.3, timeoutMs: 80_000 });
    expect(result).toMatchObject({ messages: 2 * N, duplicates: 0, lost: 0 });
    expect(result.faultsInjected).toBeGreaterThan(0);
    // Front took imports whose answers were lost; their notices, not a second import, settled them.
    expect(result['front_lost-response']).toBeGreaterThan(0);
    expect(result.importsSettledByNotice).toBeGreaterThan(0);
    expect((await setup().rows()).map((r) => r.delivery_status)).toEqual(Array(2 * N).fill('delivered'));
  });
});
