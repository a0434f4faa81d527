import { afterEach, describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../src/replicators/index.ts';
import { runCli } from '../helpers/cli.ts';
import { setUpChannel, CHANNEL_ID, type ChannelSetup } from '../helpers/channel.ts';
import { useTestDatabase } from '../helpers/database.ts';

const database = useTestDatabase();
let setup: ChannelSetup;
afterEach(() => setup.close());

const SMS_CHANNEL = 'front_signalwire_message_channel_app_v1';
type Finding = { subject: string; check: string; status: string; detail: string };

describe('national numbers and the phone region', () => {
  it('a channel number that is not valid in the region is refused, naming --region and DEFAULT_PHONE_REGION', async () => {
    setup = await setUpChannel(database());
    const create = (...flags: string[]) => setup.cli('integrations', 'create', SMS_CHANNEL, '--depends-on', String(setup.sw.id), ...flags, '--json');
    const us = await create('--phone', '0712345678');
    expect(us.code).toBe(2);
    expect(us.stderr).toMatch(/--phone: "0712345678" is not a valid number in region US .*--region.*DEFAULT_PHONE_REGION/);
    expect(us.stderr).not.toContain('+10712345678');
    const kenya = await create('--phone', '0712345678', '--region', 'KE');
    expect(kenya.json()).toMatchObject({ api_url: '+254712345678' });
    const international = await create('--phone', '+254 712 345 679');
    expect(international.json()).toMatchObject({ api_url: '+254712345679' });
  });

  it('a counsellor reply to a national number invalid in the region is refused with the reason, and nothing is queued to send', async () => {
    setup = await setUpChannel(database());
    const before = (await setup.rows()).length;
    const response = await setup.frontClient.message({ id: 'msg_ke', channelId: CHANNEL_ID, text: 'hello', to: ['0712345678'] });
    expect(response.status).toBe(422);
    expect(JSON.parse(response.text).error.message).toMatch(/recipient: "0712345678" is not a valid number in region US/);
    expect(await setup.rows()).toHaveLength(before);
  });

  it('doctor warns when DEFAULT_PHONE_REGION is unset and a channel number is not in the US, and not otherwise', async () => {
    setup = await setUpChannel(database());
    const kenyan = await setup.cli('integrations', 'create', SMS_CHANNEL, '--depends-on', String(setup.sw.id), '--phone', '+254712345678', '--json');
    const doctor = async (env: Record<string, string> = {}) => {
      const run = await runCli(setup.databaseUrl, ['doctor', '--json'], { env: { PUBLIC_URL: setup.publicUrl, ...env }, registry: defaultRegistry() });
      return (run.json().findings as Finding[]).filter((f) => f.check === 'phone region');
    };
    expect(await doctor()).toEqual([
      {
        subject: `${kenyan.json().id} ${SMS_CHANNEL}`,
        check: 'phone region',
        status: 'warn',
        detail: expect.stringMatching(/in KE but numbers typed without a country code are read as US.*DEFAULT_PHONE_REGION=KE.*--region KE/),
      },
    ]);
    expect(await doctor({ DEFAULT_PHONE_REGION: 'KE' })).toEqual([]);
    await setup.cli('integrations', 'update', String(kenyan.json().id), '--region', 'KE');
    expect(await doctor()).toEqual([]);
  });
});
