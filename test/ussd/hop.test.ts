import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ServiceIntegration } from '../../src/db/schema.ts';
import { runBackfillPass } from '../../src/engine/backfill-runner.ts';
import { createIntegration } from '../../src/engine/integrations.ts';
import { integrationStatus } from '../../src/engine/status.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { buildApp } from '../../src/http/app.ts';
import { defaultRegistry } from '../../src/replicators/index.ts';
import { dial, gatewayRequest } from '../../src/simulators/ussd.ts';
import { sweepSessions } from '../../src/replicators/ussd-request-v1/sessions.ts';
import { GATEWAYS } from '../../src/ussd/types.ts';
import { runCli } from '../helpers/cli.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { testEngine } from '../helpers/engine.ts';

const database = useTestDatabase();
let engine: Engine;
let app: FastifyInstance;
let base: string;
let ussd: ServiceIntegration;
const CALLER = '233241234567';

beforeAll(async () => {
  engine = testEngine(database().db, { DEFAULT_PHONE_REGION: 'GH' }, defaultRegistry());
  app = await buildApp({ engine, config: engine.config });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(() => app.close());
beforeEach(async () => {
  await sql`TRUNCATE service_integrations CASCADE`.execute(engine.db);
  ({ integration: ussd } = await createIntegration(engine.db, engine.registry, engine.config, { service: 'ussd_request_v1', flags: { 'ip-allowlist': '127.0.0.1 ::1' } }));
});

const url = (gateway: string, opaque = ussd.opaque_id) => `${base}/v1/ussd/${gateway}/${opaque}`;
const hops = async () => (await sql<Record<string, any>>`SELECT * FROM ussd_request_v1 ORDER BY pk`.execute(engine.db)).rows;
const sessions = async () => (await sql<Record<string, any>>`SELECT * FROM ussd_sessions ORDER BY created_at`.execute(engine.db)).rows;
const settle = () => new Promise((r) => setTimeout(r, 150));

describe('a helpline session over every gateway', () => {
  it.each(GATEWAYS)('%s: menu → message → consent → END, session closed, message submitted', async (gateway) => {
    const { session, first } = await dial(url(gateway), { gateway, msisdn: CALLER });
    expect(first.screen.end).toBe(false);
    expect(first.screen.text).toContain('1. Talk to a counsellor');
    expect(first.screen.text).toContain('2. Read replies (0 new)');
    expect(first.screen.text).toContain('0. Exit');
    const prompt = await session.send('1');
    expect(prompt.screen).toMatchObject({ end: false, text: expect.stringContaining('Type your message') });
    const consent = await session.send('0 is my age and I need help');
    expect(consent.screen.text).toContain('May a counsellor reply by SMS?');
    const done = await session.send('1');
    expect(done.screen.end).toBe(true);
    await settle();
    const stored = await hops();
    expect(stored).toHaveLength(4);
    expect(stored.at(-1)!.data.actions).toEqual([{ type: 'submit_message', data: { message: '0 is my age and I need help', sms_consent: true } }]);
    expect(stored.every((h) => h.response_status === 200 && h.latency_ms > 0)).toBe(true);
    const [row] = await sessions();
    expect(row).toMatchObject({ status: 'closed', close_reason: 'completed', hops: 4 });
    // No phone number in session ids or hashes.
    expect(row!.id).not.toContain('241234567');
    expect(row!.id).toMatch(/^helpline:ussd:[a-z]+:[0-9a-f]{32}$/);
  });
});

describe('duplicates', () => {
  it('a repeated hop (same cumulative text) is answered identically and processed once', async () => {
    const { session } = await dial(url('africastalking'), { gateway: 'africastalking', msisdn: CALLER });
    await session.send('1');
    const request = gatewayRequest('africastalking', { kind: 'continue', sessionId: session.sessionId, msisdn: `+${CALLER}`, inputs: ['1'] });
    const again = await fetch(url('africastalking'), { method: 'POST', headers: { 'content-type': request.contentType }, body: request.body });
    expect(await again.text()).toBe(session.hops[1]!.body);
    await settle();
    // Every request is kept; the repeat points at the first and changes nothing else.
    const stored = await hops();
    expect(stored.map((h) => h.replay_of)).toEqual([null, null, stored[1]!.pk]);
    expect((await sessions())[0]).toMatchObject({ hops: 2 });
  });

  it('Nalo (no sequence): the same input again at once is a replay, the same input later a new answer', async () => {
    const { session } = await dial(url('nalo'), { gateway: 'nalo', msisdn: CALLER });
    const first = await session.send('1');
    const request = gatewayRequest('nalo', { kind: 'continue', sessionId: session.sessionId, msisdn: CALLER, inputs: ['1'] });
    const again = await fetch(url('nalo'), { method: 'POST', headers: { 'content-type': request.contentType }, body: request.body });
    expect(await again.text()).toBe(first.body);
    await settle();
    const stored = await hops();
    expect(stored.map((h) => h.replay_of)).toEqual([null, null, stored[1]!.pk]);
    expect((await sessions())[0]).toMatchObject({ hops: 2 });
  });
});

describe('ending sessions', () => {
  it('Hubtel Release closes the session and runs no flow', async () => {
    const { session } = await dial(url('hubtel'), { gateway: 'hubtel', msisdn: CALLER });
    await session.release();
    await settle();
    expect(await sessions()).toMatchObject([{ status: 'closed', close_reason: 'released', hops: 2 }]);
    expect((await hops()).map((h) => h.kind)).toEqual(['initial', 'release']);
  });

  it("Africa's Talking's end notification after our END keeps the reason 'completed'", async () => {
    const { session } = await dial(url('africastalking'), { gateway: 'africastalking', msisdn: CALLER });
    await session.send('0');
    await session.release();
    await settle();
    expect(await sessions()).toMatchObject([{ status: 'closed', close_reason: 'completed' }]);
  });

  it('the sweeper closes sessions the gateway abandoned, and says why', async () => {
    await dial(url('arkesel'), { gateway: 'arkesel', msisdn: CALLER });
    expect(await sweepSessions(engine.db, 180)).toBe(0);
    await sql`UPDATE ussd_sessions SET last_hop_at = now() - interval '181 seconds'`.execute(engine.db);
    expect(await sweepSessions(engine.db, 180)).toBe(1);
    expect(await sessions()).toMatchObject([{ status: 'closed', close_reason: 'abandoned' }]);
  });
});

describe('menus over several pages (issue 16 defect 4)', () => {
  const topics = ['Family problems at home', 'School and bullying', 'Health and my body', 'Abuse or violence', 'Feelings and worries', 'Friends and dating', 'Money and work', 'Something else entirely'];
  const flow = {
    version: 1,
    start: 'topics',
    screens: {
      topics: { type: 'menu', title: 'Which topic is closest?', choices: topics.map((label) => ({ label, next: 'done', set: { topic: label } })) },
      done: { type: 'end', text: 'You chose {topic}.' },
    },
  };

  it.each(['africastalking', 'nalo'] as const)('%s: a number shown on page 1 selects its choice from the last page; an invalid one says so', async (gateway) => {
    await sql`UPDATE service_integrations SET settings = settings || jsonb_build_object('flow', ${JSON.stringify(flow)}::text) WHERE id = ${ussd.id}`.execute(engine.db);
    const toLastPage = async () => {
      const { session, first } = await dial(url(gateway), { gateway, msisdn: CALLER });
      expect(first.screen.text).toContain('1. Family problems at home');
      let screen = first.screen;
      while (screen.text.includes('# More')) screen = (await session.send('#')).screen;
      expect(screen.text).not.toContain('1. Family');
      return session;
    };
    const chosen = await (await toLastPage()).send('1');
    expect(chosen.screen).toEqual({ text: 'You chose Family problems at home.', end: true });
    const invalid = await (await toLastPage()).send('9');
    expect(invalid.screen.end).toBe(false);
    expect(invalid.screen.text).toMatch(/^Invalid choice\./);
  });
});

describe('a typed message with no Front USSD channel to take it (issue 14 item 1)', () => {
  const create = (service: string, flags: Record<string, string>, dependsOn?: string) =>
    createIntegration(engine.db, engine.registry, engine.config, { service, flags, ...(dependsOn ? { dependsOn } : {}) });
  const channelRows = async () => (await sql<Record<string, any>>`SELECT * FROM front_ussd_channel_app_v1 ORDER BY pk`.execute(engine.db)).rows;
  const pass = () => runBackfillPass(engine, ussd.id, { incremental: true, recursive: false, trigger: 'test' });

  it('is held, pending and named by doctor, while two channels make the link ambiguous; linked, the next pass hands it over once', async () => {
    const { integration: sw } = await create('signalwire_message_v1', { space: 'https://example.signalwire.com', 'project-id': 'p1', 'api-token': 't1' });
    const { integration: first } = await create('front_ussd_channel_app_v1', { phone: '+15550001111' }, String(sw.id));
    await create('front_ussd_channel_app_v1', { phone: '+15550001112' }, String(sw.id));
    const { session } = await dial(url('hubtel'), { gateway: 'hubtel', msisdn: CALLER });
    await session.send('1');
    await session.send('please help');
    expect((await session.send('1')).screen.end).toBe(true);

    expect(await channelRows()).toEqual([]);
    const held = (await hops()).filter((h) => h.data.held_message);
    expect(held.map((h) => h.data.held_message)).toMatchObject([{ body: 'please help', consent: true }]);
    expect(await integrationStatus(engine, ussd)).toMatchObject({ pending: 1, setup: { ready: false, state: 'unlinked' } });
    const doctor = await runCli(database().url, ['doctor'], { registry: defaultRegistry() });
    expect(doctor.stdout).toMatch(/front ussd channel.*1 typed message\(s\) held/);

    // Still ambiguous: a pass leaves it held.
    await pass();
    expect(await channelRows()).toEqual([]);
    await sql`UPDATE service_integrations SET settings = settings || jsonb_build_object('channel', ${String(first.id)}::text) WHERE id = ${ussd.id}`.execute(engine.db);
    const linked = await engine.db.selectFrom('service_integrations').selectAll().where('id', '=', ussd.id).executeTakeFirstOrThrow();
    expect(await runBackfillPass(engine, linked.id, { incremental: true, recursive: false, trigger: 'test' })).toMatchObject({ status: 'succeeded' });
    await pass();
    expect((await channelRows()).map((r) => [r.integration_id, r.body, r.sender, r.sms_consent])).toEqual([[first.id, 'please help', `+${CALLER}`, true]]);
    expect(await integrationStatus(engine, linked)).toMatchObject({ pending: 0, setup: { ready: true } });
  });
});

describe('the link between a USSD service and its Front channel (issue 14 item 1)', () => {
  const cli = (...args: string[]) => runCli(database().url, args, { registry: defaultRegistry() });

  it('is made explicit at create, refused when ambiguous or wrong, and survives a second channel', async () => {
    const sw = await cli('integrations', 'create', 'signalwire_message_v1', '--space', 'https://example.signalwire.com', '--project-id', 'p1', '--api-token', 't1', '--json');
    const first = await cli('integrations', 'create', 'front_ussd_channel_app_v1', '--phone', '+15550001111');
    expect(first.code).toBe(0);
    // The implicit --depends-on is said, not silent.
    expect(first.stdout).toContain(`Chosen for you: --depends-on ${sw.json().id}: the only signalwire_message_v1 integration`);
    const firstId = Number(/integration (\d+) /.exec(first.stdout)![1]);

    const linked = await cli('integrations', 'create', 'ussd_request_v1', '--ip-allowlist', '127.0.0.1 ::1', '--json');
    expect(linked.json()).toMatchObject({ settings: { channel: String(firstId) }, notes: [expect.stringContaining(`--channel ${firstId}: the only front_ussd_channel_app_v1`)] });

    const second = await cli('integrations', 'create', 'front_ussd_channel_app_v1', '--phone', '+15550001112', '--json');
    const ambiguous = await cli('integrations', 'create', 'ussd_request_v1');
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toMatch(new RegExp(`several front_ussd_channel_app_v1 integrations exist: choose one with --channel <id>: ${firstId} \\(svi_\\w+\\), ${second.json().id} \\(svi_\\w+\\)`));
    const wrong = await cli('integrations', 'update', String(linked.json().id), '--channel', String(sw.json().id));
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain(`--channel ${sw.json().id} is no front_ussd_channel_app_v1 integration; choose one of:`);

    // The reproduction: the second channel does not take the service's messages away.
    const { session } = await dial(url('nalo', linked.json().opaque_id), { gateway: 'nalo', msisdn: CALLER });
    await session.send('1');
    await session.send('still heard');
    const { rows } = await sql<{ integration_id: number; body: string }>`SELECT integration_id, body FROM front_ussd_channel_app_v1`.execute(engine.db);
    expect(rows).toEqual([{ integration_id: firstId, body: 'still heard' }]);
  });
});

describe('bad requests', () => {
  it('unknown integration or gateway → 404, bad body → 422, caller outside the allowlist → 401', async () => {
    expect((await fetch(url('africastalking', 'svi_nope'), { method: 'POST' })).status).toBe(404);
    expect((await fetch(url('nokia'), { method: 'POST' })).status).toBe(404);
    const bad = await fetch(url('hubtel'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"Type":"Initiation"}' });
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('SB_ERR_INVALID_PAYLOAD');
    await sql`UPDATE service_integrations SET settings = settings || '{"ip_allowlist":"10.9.9.9"}' WHERE id = ${ussd.id}`.execute(engine.db);
    const request = gatewayRequest('nalo', { kind: 'initial', sessionId: 's1', msisdn: CALLER, inputs: [] });
    expect((await fetch(url('nalo'), { method: 'POST', headers: { 'content-type': request.contentType }, body: request.body })).status).toBe(401);
  });
});

describe('guards', () => {
  it('refuses a pinned service code it does not match, and callers over their hop rate', async () => {
    await sql`UPDATE service_integrations SET settings = settings || '{"service_code":"*384*9999#","max_hops_per_minute":"2"}' WHERE id = ${ussd.id}`.execute(engine.db);
    const wrongCode = gatewayRequest('africastalking', { kind: 'initial', sessionId: 'g1', msisdn: `+${CALLER}`, inputs: [], serviceCode: '*384*1234#' });
    const refused = await fetch(url('africastalking'), { method: 'POST', headers: { 'content-type': wrongCode.contentType }, body: wrongCode.body });
    expect(refused.status).toBe(401);
    const { session } = await dial(url('africastalking'), { gateway: 'africastalking', msisdn: `+${CALLER}`, serviceCode: '*384*9999#' });
    await session.send('1');
    const third = gatewayRequest('africastalking', { kind: 'continue', sessionId: session.sessionId, msisdn: `+${CALLER}`, inputs: ['1', 'x'], serviceCode: '*384*9999#' });
    const limited = await fetch(url('africastalking'), { method: 'POST', headers: { 'content-type': third.contentType }, body: third.body });
    expect(limited.status).toBe(429);
    expect(((await limited.json()) as { error: { code: string } }).error.code).toBe('SB_ERR_RATE_LIMITED');
  });
});

describe('flows as data', () => {
  it('--flow loads a validated document; an invalid one is refused with its path and reason', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sb-flow-'));
    const good = path.join(dir, 'good.json');
    const bad = path.join(dir, 'bad.json');
    await fs.writeFile(good, JSON.stringify({ version: 1, start: 'main', screens: { main: { type: 'end', text: 'Hello from our own flow' } } }));
    await fs.writeFile(bad, JSON.stringify({ version: 1, start: 'main', screens: { main: { type: 'menu', title: 'x', choices: [{ label: 'Go', next: 'nowhere' }] } } }));
    const cli = (...args: string[]) => runCli(database().url, args, { registry: defaultRegistry() });
    const refused = await cli('integrations', 'create', 'ussd_request_v1', '--flow', bad);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/screens\.main\.choices\[0\]\.next: unknown screen "nowhere"/);
    const yaml = path.join(dir, 'flow.yaml');
    await fs.writeFile(yaml, 'version: 1\nstart: main\nscreens:\n  main:\n    type: end\n    text: From YAML\n');
    expect((await cli('integrations', 'create', 'ussd_request_v1', '--flow', yaml, '--json')).json().settings.flow).toContain('From YAML');
    const created = await cli('integrations', 'create', 'ussd_request_v1', '--flow', good, '--json');
    expect(created.code).toBe(0);
    const { first } = await dial(url('hubtel', created.json().opaque_id), { gateway: 'hubtel', msisdn: CALLER });
    expect(first.screen).toEqual({ text: 'Hello from our own flow', end: true });
    await fs.rm(dir, { recursive: true, force: true });
  });
});
