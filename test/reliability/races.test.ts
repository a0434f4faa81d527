/**
 * Item 2 of the reliability issue, small: four worker processes, the poll job and manual
 * `switchboard backfill` runs racing on the same integrations while messages arrive both
 * ways. Every SMS reaches Front once and every reply is sent once. (`npm run soak`: 5,000.)
 */
import { describe, expect, it } from 'vitest';
import { races } from '../helpers/reliability.ts';
import { useChannel } from '../helpers/use-channel.ts';

const { setup } = useChannel();

describe('racing workers, polls and manual backfills', () => {
  it('send nothing twice and lose nothing', { timeout: 120_000 }, async () => {
    const result = await races(setup(), { perDirection: 150 });
    expect(result).toMatchObject({ messages: 300, duplicates: 0, lost: 0, workerExits: '0,0,0,0' });
    expect(setup().signalwire.requests.filter((r) => r.method === 'POST')).toHaveLength(150);
    expect((await setup().rows()).map((r) => r.delivery_status)).toEqual(Array(300).fill('delivered'));
  });
});
