/**
 * For test files: the file's database and a wired channel authorised in Front (the SMS one,
 * or with `ussd` the USSD one and a USSD service), set up before its tests and closed after.
 */
import { afterAll, beforeAll } from 'vitest';
import { CHANNEL_ID, setUpChannel, type ChannelSetup } from './channel.ts';
import { useTestDatabase, type TestDatabase } from './database.ts';

export const USSD_CHANNEL_ID = 'cha_ussd';

export function useChannel(options: { ussd?: boolean; env?: Record<string, string> } = {}): { database: () => TestDatabase; setup: () => ChannelSetup } {
  const database = useTestDatabase();
  let setup: ChannelSetup | undefined;
  beforeAll(async () => {
    setup = await setUpChannel(database(), options.env ?? {}, { ussd: options.ussd ?? false });
    await setup.frontClient.authorize(options.ussd ? USSD_CHANNEL_ID : CHANNEL_ID);
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
