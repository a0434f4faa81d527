/**
 * Item 5 of the reliability issue, in simulated time: both providers down while messages
 * arrive, then back. Nothing is lost or sent twice, and the backlog drains as soon as they
 * answer again, however far out the outage pushed the rows' back-offs. (`npm run soak`: a
 * real five-minute outage.)
 */
import { describe, expect, it } from 'vitest';
import { outage } from '../helpers/reliability.ts';
import { useChannel } from '../helpers/use-channel.ts';

const { setup } = useChannel();

describe('a provider outage', () => {
  it('loses nothing, sends nothing twice, and the backlog drains once the providers are back', { timeout: 60_000 }, async () => {
    // The bounded wait (15 s) is far below the ten-minute back-offs the outage left.
    const result = await outage(setup(), { perDirection: 30, outageMs: 3000, simulateLongOutage: true, timeoutMs: 15_000 });
    expect(result).toMatchObject({ messages: 60, duplicates: 0, lost: 0 });
    expect(result.backlogAtEnd).toBeGreaterThanOrEqual(20);
    expect(result.faultsInjected).toBeGreaterThan(0);
  });
});
