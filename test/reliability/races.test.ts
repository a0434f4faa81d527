/**
 * Item 2 of the reliability issue, small: four worker processes, the poll job and manual
 * `switchboard backfill` runs racing on the same integrations while messages arrive both
 * ways. Every SMS reaches Front once and every reply is sent once. (`npm run soak`: 5,000.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNEL_ID, setUpChannel, type ChannelSetup } from '../helpers/channel.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { races } from '../helpers/reliability.ts';

const database = useTestDatabase();
let setup: ChannelSetup;

beforeAll(async () => {
  setup = await setUpChannel(database());
  await setup.frontClient.authorize(CHANNEL_ID);
});
afterAll(() => setup.close());

describe('racing workers, polls and manual backfills', () => {
  it('send nothing twice and lose nothing', { timeout: 120_000 }, async () => {
    const result = await races(setup, { perDirection: 150 });
    expect(result).toMatchObject({ messages: 300, duplicates: 0, lost: 0, workerExits: '0,0,0,0' });
    expect(setup.signalwire.requests.filter((r) => r.method === 'POST')).toHaveLength(150);
    expect((await setup.rows()).map((r) => r.delivery_status)).toEqual(Array(300).fill('delivered'));
  });
});
