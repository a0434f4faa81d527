/**
 * USSD callers cannot be impersonated (issue 13 items 1 and 11), each reproduction of the
 * issue replayed over real HTTP: a service without an IP allowlist fails closed (no reply
 * shown, none marked read, no SMS consent recorded) and says so everywhere; allowlists take
 * IPv4/IPv6 CIDR ranges and refuse bad entries by name; pinned fields are required; the
 * path's gateway must be the service's; hop limits hold across processes and per address;
 * refused requests keep their source address; JSON nested 5,000 deep is a 4xx, stored nowhere.
 */
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { integrationStatus } from '../../src/engine/status.ts';
import { buildApp } from '../../src/http/app.ts';
import { dial, gatewayRequest } from '../../src/simulators/ussd.ts';
import { allowlistOf, isAllowed } from '../../src/ussd/allowlist.ts';
import { HELPLINE_FLOW } from '../../src/ussd/flow/helpline.ts';
import { CUSTOMER, type ChannelSetup } from '../helpers/channel.ts';
import { useChannel, USSD_CHANNEL_ID as CHANNEL } from '../helpers/use-channel.ts';
import { waitFor } from '../helpers/wait.ts';

const channel = useChannel({ ussd: true });
let setup: ChannelSetup;
beforeAll(() => {
  setup = channel.setup();
});
beforeEach(async () => {
  await sql`TRUNCATE ussd_request_v1, ussd_sessions, ussd_hop_counts, front_ussd_channel_app_v1, webhook_log`.execute(setup.engine.db);
  await settings({ ip_allowlist: '127.0.0.1 ::1' });
});

const db = () => setup.engine.db;
const url = (gateway: string, base = setup.publicUrl) => `${base}/v1/ussd/${gateway}/${setup.ussd!.opaque_id}`;
/** The service's settings: these, and its link to the channel. */
const settings = (value: Record<string, string>) =>
  sql`UPDATE service_integrations SET settings = ${JSON.stringify({ channel: String(setup.channel.id), ...value })}::jsonb WHERE id = ${setup.ussd!.id}`.execute(db());
const post = (target: string, request: { contentType: string; body: string }) =>
  fetch(target, { method: 'POST', headers: { 'content-type': request.contentType }, body: request.body });
const initial = (gateway: 'africastalking' | 'nalo', msisdn: string, extra: { serviceCode?: string; sessionId?: string } = {}) =>
  gatewayRequest(gateway, { kind: 'initial', sessionId: extra.sessionId ?? `s-${Math.random()}`, msisdn, inputs: [], ...(extra.serviceCode ? { serviceCode: extra.serviceCode } : {}) });

/** A counsellor's reply to CUSTOMER, unread, as Front would have sent it. */
async function replyWaiting() {
  await setup.frontClient.message({ id: `msg_${Math.random()}`, channelId: CHANNEL, text: 'We are here for you.', to: [CUSTOMER] });
  await waitFor(async () => (await setup.rows()).some((r) => r.direction === 'outbound'), { what: 'the reply row' });
}

describe('a service without an IP allowlist (unauthenticated)', () => {
  it('never shows or marks read a reply, and records no SMS consent, even with a flow that asks', async () => {
    await replyWaiting();
    await settings({ flow: JSON.stringify(HELPLINE_FLOW) });
    // The reproduction: a forged Africa's Talking request with the child's number.
    const { session, first } = await dial(url('africastalking'), { gateway: 'africastalking', msisdn: CUSTOMER });
    expect(first.screen.text).toContain('Read replies (0 new)');
    const replies = await session.send('2');
    expect(replies.screen.text).not.toContain('We are here for you.');
    expect((await setup.rows()).find((r) => r.direction === 'outbound')).toMatchObject({ read_at: null });

    const forged = await dial(url('africastalking'), { gateway: 'africastalking', msisdn: CUSTOMER });
    await forged.session.send('1');
    await forged.session.send('text me please');
    const done = await forged.session.send('1');
    expect(done.screen.end).toBe(true);
    expect((await setup.rows()).find((r) => r.body === 'text me please')).toMatchObject({ direction: 'inbound', sms_consent: null });
  });

  it('the default flow offers neither replies nor consent, and the message still reaches the channel', async () => {
    await settings({});
    const { session, first } = await dial(url('nalo'), { gateway: 'nalo', msisdn: CUSTOMER });
    expect(first.screen.text).not.toMatch(/Read replies/);
    await session.send('1');
    const done = await session.send('I need help');
    expect(done.screen).toEqual({ text: 'Thank you. A counsellor will read your message.', end: true });
    expect((await setup.rows()).map((r) => [r.body, r.sms_consent])).toEqual([['I need help', null]]);
  });

  it('says "unauthenticated" in status, integrations info, doctor and the setup state', async () => {
    await settings({});
    const status = await integrationStatus(setup.engine, await setup.reload(setup.ussd!));
    expect(status.setup).toMatchObject({ ready: false, state: 'unauthenticated' });
    const info = await setup.cli('integrations', 'info', String(setup.ussd!.id));
    expect(info.stdout).toContain('State: unauthenticated');
    const listed = await setup.cli('status');
    expect(listed.stdout).toMatch(/unauthenticated: anyone with the URL could pose as a caller/);
    const doctor = await setup.cli('doctor');
    expect(doctor.stdout).toMatch(/authentication.*unauthenticated/);
    expect(doctor.stdout).toContain('docs/guides/ussd-helpline.md');

    await settings({ ip_allowlist: '127.0.0.1 ::1' });
    expect((await integrationStatus(setup.engine, await setup.reload(setup.ussd!))).setup).toMatchObject({ ready: true });
    expect((await setup.cli('integrations', 'info', String(setup.ussd!.id))).stdout).toContain('State: authenticated');
  });
});

describe('IP allowlists', () => {
  it('take IPv4 and IPv6 addresses and CIDR ranges', () => {
    const list = allowlistOf('10.0.0.0/8 2001:db8::/32, 192.0.2.7');
    expect(['10.200.3.4', '::ffff:10.0.0.1', '2001:db8:1::5', '192.0.2.7'].map((ip) => isAllowed(list!, ip))).toEqual([true, true, true, true]);
    expect(['11.0.0.1', '2001:db9::1', '192.0.2.8', 'nonsense'].map((ip) => isAllowed(list!, ip))).toEqual([false, false, false, false]);
  });

  it('a bad entry is a usage error naming it, at create and at update', async () => {
    const created = await setup.cli('integrations', 'create', 'ussd_request_v1', '--ip-allowlist', '10.0.0.0/8 10.0.0.300 ::1');
    expect(created.code).toBe(2);
    expect(created.stderr).toContain('"10.0.0.300" is not an IP address or CIDR range');
    const updated = await setup.cli('integrations', 'update', String(setup.ussd!.id), '--ip-allowlist', '2001:db8::/129');
    expect(updated.code).toBe(2);
    expect(updated.stderr).toContain('"2001:db8::/129"');
  });

  it('a range holding the caller lets it in; one that does not answers 401 and logs the source address', async () => {
    await settings({ ip_allowlist: '127.0.0.0/8 ::1/128' });
    expect((await post(url('nalo'), initial('nalo', CUSTOMER))).status).toBe(200);
    await settings({ ip_allowlist: '10.0.0.0/8 2001:db8::/32' });
    const refused = await post(url('nalo'), initial('nalo', CUSTOMER));
    expect(refused.status).toBe(401);
    const logged = await waitFor(async () => (await sql<{ status: number; source_address: string | null }>`SELECT status, source_address FROM webhook_log WHERE status = 401`.execute(db())).rows[0], { what: 'the refused request in the log' });
    expect(logged.source_address).toMatch(/^(::ffff:)?127\.0\.0\.1$|^::1$/);
  });
});

describe('pinned fields and the gateway', () => {
  it('a pinned service code is required on every request: one without it is refused', async () => {
    await settings({ ip_allowlist: '127.0.0.1 ::1', service_code: '*384*1234#' });
    const withCode = initial('africastalking', CUSTOMER, { serviceCode: '*384*1234#' });
    expect((await post(url('africastalking'), withCode)).status).toBe(200);
    const without = { ...withCode, body: withCode.body.replace(/(^|&)serviceCode=[^&]*/, '') };
    expect(without.body).not.toContain('serviceCode');
    expect((await post(url('africastalking'), without)).status).toBe(401);
    // A gateway that sends no service code cannot get round the pin.
    expect((await post(url('nalo'), initial('nalo', CUSTOMER))).status).toBe(401);
  });

  it("the gateway in the path must be the integration's", async () => {
    await settings({ ip_allowlist: '127.0.0.1 ::1', gateway: 'hubtel' });
    const refused = await post(url('nalo'), initial('nalo', CUSTOMER));
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toBe("this integration's gateway is hubtel, not nalo");
    expect((await setup.cli('integrations', 'update', String(setup.ussd!.id), '--gateway', 'nokia')).code).toBe(2);
  });
});

describe('hop limits, in Postgres', () => {
  it('a caller over the limit is refused even when its hops go to two processes', async () => {
    await settings({ ip_allowlist: '127.0.0.1 ::1', max_hops_per_minute: '3' });
    const second: FastifyInstance = await buildApp({ engine: setup.engine, config: setup.engine.config });
    const otherBase = await second.listen({ host: '127.0.0.1', port: 0 });
    try {
      const statuses = [];
      for (const base of [setup.publicUrl, otherBase, setup.publicUrl, otherBase]) statuses.push((await post(url('nalo', base), initial('nalo', CUSTOMER))).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
    } finally {
      await second.close();
    }
  });

  it('one address posing as many callers is refused past the per-address limit', async () => {
    await settings({ ip_allowlist: '127.0.0.1 ::1', max_hops_per_address_per_minute: '2' });
    const statuses = [];
    for (const caller of ['+15550004001', '+15550004002', '+15550004003']) statuses.push((await post(url('nalo'), initial('nalo', caller))).status);
    expect(statuses).toEqual([200, 200, 429]);
  });
});

describe('hostile bodies', () => {
  it('JSON nested 5,000 deep is a 400, and nothing is stored or answered "received"', async () => {
    // Valid fields, plus one the adapter ignores but the stored raw request would hold.
    const deep = `{"USERID":"SIMUSER1","MSISDN":"15550002222","MSGTYPE":true,"USERDATA":"*920*1801#","EXTRA":${'['.repeat(5000)}${']'.repeat(5000)}}`;
    const answer = await fetch(url('nalo'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: deep });
    expect(answer.status).toBe(400);
    expect(await answer.text()).not.toMatch(/received/);
    expect((await sql`SELECT 1 FROM ussd_request_v1`.execute(db())).rows).toEqual([]);
  });
});
