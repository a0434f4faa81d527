import { afterEach, describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../src/replicators/index.ts';
import { setUpChannel, type ChannelSetup } from '../helpers/channel.ts';
import { runCli } from '../helpers/cli.ts';
import { useTestDatabase } from '../helpers/database.ts';

const database = useTestDatabase();
let setup: ChannelSetup;
afterEach(() => setup.close());

const doctor = (env: Record<string, string>) => runCli(database().url, ['doctor', '--json'], { env, registry: defaultRegistry() });
type Finding = { subject: string; check: string; status: string; detail: string };

describe('switchboard doctor', () => {
  it('checks credentials against SignalWire, the Front app settings and the channel, and says how to fix them', async () => {
    setup = await setUpChannel(database());
    const env = { PUBLIC_URL: 'https://switchboard.example.org', FRONT_CHANNEL_APP_UID: 'app_1', FRONT_CHANNEL_APP_SECRET: 'secret' };
    const healthy = await doctor(env);
    const findings = healthy.json().findings as Finding[];
    expect(findings.find((f) => f.check === 'migrations')).toMatchObject({ status: 'ok' });
    expect(findings.find((f) => f.check === 'credentials')).toMatchObject({ status: 'ok' });
    expect(findings.find((f) => f.check === 'front channel')).toMatchObject({ status: 'warn', detail: expect.stringContaining('not connected yet') });
    expect(healthy.code).toBe(0);

    await database().db.updateTable('service_integrations').set({ backfill_secret: 'wrong' }).where('id', '=', setup.sw.id).execute();
    const broken = await doctor({ PUBLIC_URL: 'http://localhost:8080' });
    const bad = broken.json().findings as Finding[];
    expect(broken.code).toBe(1);
    expect(bad.find((f) => f.check === 'credentials')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/401.*integrations update/) });
    expect(bad.find((f) => f.check === 'front app')).toMatchObject({ status: 'fail' });
    expect(bad.find((f) => f.check === 'PUBLIC_URL')).toMatchObject({ status: 'warn' });
  });
});
