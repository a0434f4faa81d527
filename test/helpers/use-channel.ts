/** For test files: the file's database and a wired SMS channel authorised in Front, set up before its tests and closed after. */
import { afterAll, beforeAll } from 'vitest';
import { CHANNEL_ID, setUpChannel, type ChannelSetup } from './channel.ts';
import { useTestDatabase, type TestDatabase } from './database.ts';

export function useChannel(): { database: () => TestDatabase; setup: () => ChannelSetup } {
  const database = useTestDatabase();
  let setup: ChannelSetup | undefined;
  beforeAll(async () => {
    setup = await setUpChannel(database());
    await setup.frontClient.authorize(CHANNEL_ID);
  });
  afterAll(() => setup?.close());
  return {
    database,
    setup: () => {
      if (!setup) throw new Error('channel not set up: call inside a test or hook');
      return setup;
    },
  };
}
