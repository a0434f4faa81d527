/**
 * The dashboard over real HTTP and a real database: the page and its bundle, the admin
 * token (environment, issued by the CLI, revoked), and what each API answers once a
 * conversation has converged through the simulators.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../src/replicators/index.ts';
import { CHANNEL_ID, CUSTOMER, SUPPORT, setUpChannel, type ChannelSetup } from '../helpers/channel.ts';
import { runCli } from '../helpers/cli.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { waitFor } from '../helpers/wait.ts';

const ENV_TOKEN = 'env-admin-token-0123456789';
const database = useTestDatabase();
let setup: ChannelSetup;

async function get(path: string, token?: string) {
  const response = await request(`${setup.publicUrl}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, text, json: () => JSON.parse(text) };
}

beforeAll(async () => {
  setup = await setUpChannel(database(), { SWITCHBOARD_ADMIN_TOKEN: ENV_TOKEN });
  await setup.frontClient.authorize(CHANNEL_ID);
  await setup.startWorker();
});
afterAll(async () => setup?.close());

describe('the page', () => {
  it('serves the shell, and the bundle it names, from our own server', async () => {
    const page = await get('/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    const script = /src="(\/assets\/main\.js\?v=[0-9a-f]+)"/.exec(page.text)?.[1];
    expect(script).toBeDefined();
    const bundle = await get(script!);
    expect(bundle.status).toBe(200);
    expect(bundle.headers['content-type']).toMatch(/javascript/);
    expect(bundle.text).toContain('/api/v1/dashboard/session');
    expect((await get('/assets/other.js')).status).toBe(404);
  });
});

describe('admin token', () => {
  it('is required, with a JSON error that says how to get one', async () => {
    const missing = await get('/api/v1/dashboard/overview');
    expect(missing.status).toBe(401);
    expect(missing.json().error).toMatchObject({ code: 'SB_ERR_UNAUTHORIZED' });
    expect(missing.json().error.message).toContain('switchboard admin-token');
    expect((await get('/api/v1/dashboard/overview', 'sbadm_wrong')).status).toBe(401);
    expect((await get('/api/v1/dashboard/overview', `${ENV_TOKEN}x`)).status).toBe(401);
    expect((await get('/api/v1/dashboard/session', ENV_TOKEN)).json()).toEqual({ demo: false });
  });

  it('can be issued by the CLI, stored hashed, and revoked', async () => {
    const issued = await runCli(database().url, ['admin-token', '--label', 'ops', '--json'], { registry: defaultRegistry() });
    expect(issued.stderr).toBe('');
    const { token, dashboard } = issued.json<{ token: string; dashboard: string }>();
    expect(dashboard).toContain(`#token=${token}`);
    expect((await get('/api/v1/dashboard/session', token)).status).toBe(200);
    const stored = await database().db.selectFrom('admin_tokens').selectAll().execute();
    expect(stored).toHaveLength(1);
    expect(JSON.stringify(stored)).not.toContain(token);
    expect(stored[0]!.last_used_at).not.toBeNull();

    const revoked = await runCli(database().url, ['admin-token', '--revoke-all', '--json'], { registry: defaultRegistry() });
    expect(revoked.json()).toEqual({ revoked: 1 });
    expect((await get('/api/v1/dashboard/session', token)).status).toBe(401);
  });
});

describe('data', () => {
  beforeAll(async () => {
    await setup.signalwire.receiveInbound({ from: CUSTOMER, to: SUPPORT, body: 'hello from the dashboard test' }, `${setup.publicUrl}/v1/service_integrations/${setup.sw.opaque_id}`);
    await waitFor(() => setup.front.inbox.length === 1);
    await setup.frontClient.message({ id: 'msg_dash_1', channelId: CHANNEL_ID, text: 'a counsellor answers', to: [CUSTOMER] });
    await waitFor(() => setup.signalwire.sent().length === 1);
    await waitFor(async () => (await setup.rows()).every((r) => r.delivery_status === 'delivered'));
    // A request turned away, for the webhook log.
    await request(`${setup.publicUrl}/v1/service_integrations/${setup.sw.opaque_id}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'From=x' });
  });

  it('overview: setup state and the convergence gap per integration', async () => {
    const overview = (await get('/api/v1/dashboard/overview', ENV_TOKEN)).json();
    const channel = overview.integrations.find((i: any) => i.service === 'front_signalwire_message_channel_app_v1');
    expect(channel).toMatchObject({ rows: 2, pending: 0, failed: 0, setup: { ready: true, detail: `connected to Front channel ${CHANNEL_ID}` } });
    expect(overview.integrations.find((i: any) => i.service === 'signalwire_message_v1').setup).toEqual({ ready: true, detail: 'configured' });
    expect(overview.jobs).toEqual(expect.objectContaining({ failed: 0 }));
  });

  it('overview: failed rows grouped by reason', async () => {
    setup.signalwire.unregisteredFrom.add(SUPPORT);
    await setup.frontClient.message({ id: 'msg_dash_2', channelId: CHANNEL_ID, text: 'this one will fail', to: [CUSTOMER] });
    await waitFor(async () => (await setup.rows()).some((r) => r.delivery_status === 'failed'));
    const channel = (await get('/api/v1/dashboard/overview', ENV_TOKEN)).json().integrations.find((i: any) => i.service === 'front_signalwire_message_channel_app_v1');
    expect(channel.failed).toBe(1);
    expect(channel.failure_reasons).toEqual([expect.objectContaining({ rows: 1, reason: expect.stringMatching(/^21717: /) })]);
    setup.signalwire.unregisteredFrom.delete(SUPPORT);
  });

  it('conversations and a thread with states and both ids', async () => {
    const list = (await get('/api/v1/dashboard/conversations', ENV_TOKEN)).json();
    expect(list.conversations).toEqual([expect.objectContaining({ conversation_id: CUSTOMER, channels: ['sms'], inbound_messages: 1, outbound_messages: 2, failed: 1, unanswered: false })]);
    expect((await get('/api/v1/dashboard/conversations?unanswered=true', ENV_TOKEN)).json().conversations).toEqual([]);
    expect((await get('/api/v1/dashboard/conversations?q=0002222', ENV_TOKEN)).json().conversations).toHaveLength(1);
    expect((await get('/api/v1/dashboard/conversations?q=999', ENV_TOKEN)).json().conversations).toHaveLength(0);

    await setup.signalwire.setStatus(setup.signalwire.sent()[0]!.sid, 'delivered');
    await waitFor(async () => (await get(`/api/v1/dashboard/conversations/${encodeURIComponent(CUSTOMER)}`, ENV_TOKEN)).json().messages[1].sms_status === 'delivered');
    const thread = (await get(`/api/v1/dashboard/conversations/${encodeURIComponent(CUSTOMER)}`, ENV_TOKEN)).json();
    const [inbound, reply, failed] = thread.messages;
    expect(inbound).toMatchObject({ direction: 'inbound', body: 'hello from the dashboard test', state: 'delivered', front_message_id: expect.any(String), signalwire_sid: expect.any(String) });
    expect(reply).toMatchObject({ direction: 'outbound', state: 'delivered', front_message_id: 'msg_dash_1', signalwire_sid: setup.signalwire.sent()[0]!.sid, sms_status: 'delivered' });
    expect(failed).toMatchObject({ direction: 'outbound', state: 'failed', error_code: '21717', signalwire_sid: null });
  });

  it('jobs and backfill passes', async () => {
    const jobs = (await get('/api/v1/dashboard/jobs', ENV_TOKEN)).json();
    expect(jobs.counts).toEqual(expect.objectContaining({ failed: 0 }));
    expect(jobs.backfills.length).toBeGreaterThan(0);
    expect(jobs.backfills[0]).toEqual(expect.objectContaining({ status: expect.any(String), trigger: expect.any(String) }));
  });

  it('webhook log, with rejected requests and their reasons', async () => {
    await waitFor(async () => (await get('/api/v1/dashboard/webhooks?rejected=true', ENV_TOKEN)).json().requests.length > 0);
    const rejected = (await get('/api/v1/dashboard/webhooks?rejected=true', ENV_TOKEN)).json().requests;
    expect(rejected).toEqual([expect.objectContaining({ status: 401, integration_id: setup.sw.id, reason: expect.stringMatching(/signature/i) })]);
    const all = (await get('/api/v1/dashboard/webhooks', ENV_TOKEN)).json().requests;
    expect(all.length).toBeGreaterThan(rejected.length);
    expect(JSON.stringify(all)).not.toContain('headers');
  });

  it('bad parameters get a 400 with a JSON error', async () => {
    const bad = await get('/api/v1/dashboard/webhooks?before=abc', ENV_TOKEN);
    expect(bad.status).toBe(400);
    expect(bad.json().error.code).toBe('SB_ERR_BAD_REQUEST');
    expect((await get('/api/v1/dashboard/conversations?unanswered=maybe', ENV_TOKEN)).status).toBe(400);
  });

  it('the demo pages exist only in demo mode', async () => {
    expect((await get('/api/v1/demo/inbox', ENV_TOKEN)).status).toBe(404);
  });
});
