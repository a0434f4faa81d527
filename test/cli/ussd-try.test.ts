/**
 * `switchboard ussd try`: the real CLI (in-process, stdin piped) against a real server on a
 * real port; what the operator sees, and the hops the server stored, are what is checked.
 */
import { sql } from 'kysely';
import { describe, expect, it, onTestFinished } from 'vitest';
import { testCaller } from '../../src/cli/commands/ussd.ts';
import { createIntegration } from '../../src/engine/integrations.ts';
import { msisdnToE164 } from '../../src/providers/phone.ts';
import { defaultRegistry } from '../../src/replicators/index.ts';
import { runCli } from '../helpers/cli.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { spawnNode } from '../helpers/processes.ts';
import { useUssdServer } from '../helpers/ussd-server.ts';

const database = useTestDatabase();
const server = useUssdServer(database);

const tryUssd = (args: string[], stdin?: string, env: Record<string, string> = {}) =>
  runCli(database().url, ['ussd', 'try', ...args], { registry: defaultRegistry(), stdin, env: { DEFAULT_PHONE_REGION: 'GH', ...env } });
const hops = () => server().hops();
const setting = (json: string) => sql`UPDATE service_integrations SET settings = settings || ${json}::jsonb WHERE id = ${server().ussd.id}`.execute(server().engine.db);

describe('ussd try', () => {
  it.each(['africastalking', 'beem', 'southpawsl'])('plays the helpline flow over %s to END, each stdin line a keypress, through the real route', async (gateway) => {
    const run = await tryUssd([server().ussd.opaque_id, '--url', server().base, '--gateway', gateway], '1\nI am scared\n2\n');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const out = run.stdout;
    expect(out).toContain('1. Talk to a counsellor');
    expect(out).toContain('Type your message');
    expect(out).toContain('May a counsellor reply by SMS?');
    expect(out.trimEnd().endsWith('[END]')).toBe(true);
    // The screens come in order.
    expect(out.indexOf('Talk to a counsellor')).toBeLessThan(out.indexOf('Type your message'));
    const stored = await hops();
    expect(stored.map((h) => [h.gateway, h.kind, h.response_status])).toEqual([
      [gateway, 'initial', 200],
      [gateway, 'continue', 200],
      [gateway, 'continue', 200],
      [gateway, 'continue', 200],
    ]);
    expect(stored.at(-1)!.data.actions).toEqual([{ type: 'submit_message', data: { message: 'I am scared', sms_consent: false } }]);
    // The default caller is the unassigned test number of the region, and says so.
    expect(stored[0]!.turn.msisdn).toBe(testCaller('GH'));
    expect(out).toContain(`caller ${testCaller('GH')}`);
  });

  it('as a real process: exits by itself at END although stdin stays open (a terminal would)', async () => {
    const child = spawnNode(['bin/switchboard', 'ussd', 'try', server().ussd.opaque_id], {
      DATABASE_URL: database().url,
      PUBLIC_URL: server().base,
      DEFAULT_PHONE_REGION: 'GH',
      LOG_LEVEL: 'silent',
    });
    onTestFinished(async () => {
      await child.stop();
    });
    child.process.stdin!.write('0\n');
    const code = await child.exited;
    expect(child.output()).toContain('[END]');
    expect(code).toBe(0);
  });

  it('reaches the server at PUBLIC_URL without --url, and calls as --msisdn', async () => {
    const run = await tryUssd(['ussd_request_v1', '--gateway', 'emergent', '--msisdn', '+233201112222'], '0\n', { PUBLIC_URL: server().base });
    expect(run.code).toBe(0);
    expect(run.stdout.trimEnd().endsWith('[END]')).toBe(true);
    expect((await hops()).map((h) => h.turn.msisdn)).toEqual(['+233201112222', '+233201112222']);
  });

  it('without --gateway speaks the format of the integration’s last hop, else Africa’s Talking', async () => {
    const first = await tryUssd([server().ussd.opaque_id, '--url', server().base], '0\n');
    expect(first.stdout).toMatch(/^\[africastalking → /);
    await tryUssd([server().ussd.opaque_id, '--url', server().base, '--gateway', 'southpawsl'], '0\n');
    const again = await tryUssd([server().ussd.opaque_id, '--url', server().base], '0\n');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^\[southpawsl → /);
    expect((await hops()).map((h) => h.gateway)).toEqual(['africastalking', 'africastalking', 'southpawsl', 'southpawsl', 'southpawsl', 'southpawsl']);
  });

  it('hangs up when stdin ends before END: a gateway that says so releases the session', async () => {
    const run = await tryUssd([server().ussd.opaque_id, '--url', server().base, '--gateway', 'hubtel'], '1\n');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('[hung up: session released]');
    const { rows } = await sql<{ close_reason: string }>`SELECT close_reason FROM ussd_sessions`.execute(server().engine.db);
    expect(rows).toEqual([{ close_reason: 'released' }]);
  });

  it('a caller outside the IP allowlist is refused: exit 1, the reason and what to change, nothing played or stored', async () => {
    await setting('{"ip_allowlist":"10.9.9.9"}');
    const run = await tryUssd([server().ussd.opaque_id, '--url', server().base], '1\n');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/answered 401: caller not in this integration's IP allowlist/);
    expect(run.stderr).toMatch(/--ip-allowlist must include .*127\.0\.0\.1/);
    expect(run.stdout).not.toContain('Talk to a counsellor');
    expect(await hops()).toEqual([]);
  });

  it('uses the pinned service code, so a pinned integration plays', async () => {
    await setting('{"service_code":"*384*77#"}');
    const run = await tryUssd([server().ussd.opaque_id, '--url', server().base], '0\n');
    expect(run.code).toBe(0);
    expect((await hops())[0]!.turn.serviceCode).toBe('*384*77#');
  });

  it('refuses an unknown gateway, another service, and an unreachable server', async () => {
    const gateway = await tryUssd([server().ussd.opaque_id, '--url', server().base, '--gateway', 'nokia']);
    expect(gateway.code).toBe(2);
    expect(gateway.stderr).toMatch(/unknown gateway "nokia"; one of africastalking, .*crossswitch/);
    const { integration: sms } = await createIntegration(server().engine.db, server().engine.registry, server().engine.config, { service: 'signalwire_message_v1', flags: { space: 'acme', 'project-id': 'p1', 'api-token': 't1' } });
    const other = await tryUssd([String(sms.id), '--url', server().base]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/is a signalwire_message_v1, not a ussd_request_v1/);
    const down = await tryUssd([server().ussd.opaque_id, '--url', 'http://127.0.0.1:9']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:9: is the server running/);
    expect(await hops()).toEqual([]);
  });
});

describe('the default test caller', () => {
  it('is a possible number of the region in no assigned range, and reads back the same without its +', () => {
    for (const region of ['GH', 'TZ', 'KE', 'UG', 'ZA']) {
      const number = testCaller(region);
      expect(number).toMatch(/^\+\d+$/);
      expect(msisdnToE164(number.slice(1), region)).toBe(number);
    }
    expect(() => testCaller('XX')).toThrow(/--msisdn/);
  });
});
