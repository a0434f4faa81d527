import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine/engine.ts';
import { defaultRegistry } from '../../src/replicators/index.ts';
import { signWhatsAppPayload, type InboundType, type WhatsAppSimulator } from '../../src/simulators/whatsapp.ts';
import { runCli } from '../helpers/cli.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { startWhatsAppServer, type WhatsAppServer } from '../helpers/whatsapp-server.ts';

const database = useTestDatabase();
const VERIFY_TOKEN = 'verify-me-0123456789';
let server: WhatsAppServer | undefined;
let sim: WhatsAppSimulator;
let engine: Engine;
let app: FastifyInstance;
let publicUrl: string;
let created: { id: number; opaque_id: string; webhook_url: string; setup?: string };

const cli = (...args: string[]) => runCli(database().url, args, { env: { PUBLIC_URL: publicUrl }, registry: defaultRegistry() });

beforeAll(async () => {
  server = await startWhatsAppServer(database().db, defaultRegistry());
  ({ sim, engine, app, publicUrl } = server);
});
afterAll(() => server?.close());

beforeEach(async () => {
  await sql`TRUNCATE service_integrations, webhook_log CASCADE`.execute(database().db);
  const run = await cli(
    'integrations', 'create', 'whatsapp_message_v1',
    '--phone-number-id', sim.phoneNumberId, '--access-token', sim.accessToken, '--app-secret', sim.appSecret,
    '--verify-token', VERIFY_TOKEN, '--api-url', sim.url, '--json',
  );
  expect(run.code, run.stderr).toBe(0);
  created = run.json();
});

const rows = async () =>
  (await sql<Record<string, any>>`SELECT * FROM whatsapp_message_v1 WHERE integration_id = ${created.id} ORDER BY pk`.execute(database().db)).rows;
const handshake = (query: Record<string, string>) => fetch(`${created.webhook_url}?${new URLSearchParams(query)}`);

describe('integrations create whatsapp_message_v1', () => {
  it('prints the id, opaque id, webhook URL and Meta setup steps, and masks the secrets in info', async () => {
    expect(created.webhook_url).toBe(`${publicUrl}/v1/service_integrations/${created.opaque_id}`);
    expect(created.opaque_id).toMatch(/^svi_/);
    const text = await cli('integrations', 'info', String(created.id));
    expect(text.stdout).toContain('Verify token');
    expect(text.stdout).toContain(created.webhook_url);
    const info = (await cli('integrations', 'info', String(created.id), '--json')).stdout;
    for (const secret of [sim.accessToken, sim.appSecret, VERIFY_TOKEN]) expect(info).not.toContain(secret);
  });

  it('refuses a missing flag, a phone number instead of its id, and a malformed API version', async () => {
    const base = ['integrations', 'create', 'whatsapp_message_v1', '--access-token', 't', '--app-secret', 's', '--verify-token', 'v'];
    const missing = await cli(...base);
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringContaining('--phone-number-id')]);
    expect((await cli(...base, '--phone-number-id', '+254700123456')).stderr).toMatch(/digits only/);
    expect((await cli(...base, '--phone-number-id', '1', '--api-version', '23')).stderr).toMatch(/v23\.0/);
  });
});

describe('GET subscription handshake', () => {
  it('answers the challenge as text/plain for the right token, 403 JSON otherwise, storing nothing', async () => {
    const ok = await handshake({ 'hub.mode': 'subscribe', 'hub.verify_token': VERIFY_TOKEN, 'hub.challenge': '1158201444' });
    expect([ok.status, ok.headers.get('content-type'), await ok.text()]).toEqual([200, 'text/plain; charset=utf-8', '1158201444']);
    for (const query of [
      { 'hub.mode': 'subscribe', 'hub.verify_token': 'wrong', 'hub.challenge': '1' },
      { 'hub.mode': 'subscribe', 'hub.challenge': '1' },
      { 'hub.mode': 'unsubscribe', 'hub.verify_token': VERIFY_TOKEN, 'hub.challenge': '1' },
      { 'hub.mode': 'subscribe', 'hub.verify_token': VERIFY_TOKEN, 'hub.challenge': '<script>' + ' '.repeat(3) },
    ] as Record<string, string>[]) {
      const refused = await handshake(query);
      expect(refused.status).toBe(403);
      expect(await refused.json()).toMatchObject({ error: { code: 'SB_ERR_FORBIDDEN' } });
    }
    expect(await rows()).toEqual([]);
  });
});

describe('signed webhooks', () => {
  it('stores every inbound type raw, one row per wamid, with its denormalised columns', async () => {
    const types: InboundType[] = ['text', 'image', 'audio', 'video', 'document', 'sticker', 'location', 'contacts', 'interactive', 'button', 'reaction', 'unsupported'];
    const sent = [];
    for (const type of types) {
      const result = await sim.receiveInbound({ from: '254711000001', type, name: 'Amani' }, created.webhook_url);
      expect([result.status, result.body]).toEqual([200, '{"o":"k"}']);
      sent.push(result.message);
    }
    const list = await sim.receiveInbound({ from: '254711000002', type: 'interactive', fields: { interactive: { type: 'list_reply', list_reply: { id: 'r1', title: 'Row' } } } }, created.webhook_url);
    sent.push(list.message);
    const stored = await rows();
    expect(stored.map((r) => [r.wamid, r.direction, r.from, r.to, r.type, r.status, r.routed_to])).toEqual(
      sent.map((m) => [m.id, 'inbound', m.from, sim.displayPhoneNumber, m.type, 'received', 'front']),
    );
    expect(stored.map((r) => r.data.message)).toEqual(sent);
    expect(stored[0]!.timestamp).toEqual(new Date(Number(sent[0]!.timestamp) * 1000));
    expect(stored[0]!.data.contact).toEqual({ profile: { name: 'Amani' }, wa_id: '254711000001' });
    expect(stored[0]!.data.metadata).toEqual({ display_phone_number: sim.displayPhoneNumber, phone_number_id: sim.phoneNumberId });
  });

  it('refuses a missing or wrong signature with 401 JSON and stores nothing; verifies the raw bytes', async () => {
    const body = JSON.stringify(sim.envelope({ messages: [{ from: '254711000001', id: 'wamid.AAA', timestamp: '1700000000', type: 'text', text: { body: 'x' } }] }));
    // The same JSON re-serialised with other spacing is not what was signed.
    const respaced = JSON.stringify(JSON.parse(body), null, 1);
    for (const signature of [null, 'sha256=00', signWhatsAppPayload('other secret', body), signWhatsAppPayload(sim.appSecret, respaced)]) {
      const response = await sim.postWebhook(created.webhook_url, body, { signature });
      expect(response.status).toBe(401);
      expect(JSON.parse(response.body)).toMatchObject({ error: { code: 'SB_ERR_UNAUTHORIZED' } });
    }
    expect(await rows()).toEqual([]);
    expect((await sim.postWebhook(created.webhook_url, respaced)).status).toBe(200);
    expect((await rows()).map((r) => r.wamid)).toEqual(['wamid.AAA']);
    // The webhook log keeps no signature and no secret.
    const { rows: log } = await sql<{ headers: Record<string, string> }>`SELECT headers FROM webhook_log`.execute(database().db);
    const logged = JSON.stringify(log);
    expect(logged).not.toContain(signWhatsAppPayload(sim.appSecret, respaced).slice(7));
    expect(logged).not.toContain(sim.appSecret);
  });

  it('answers 422 to signed bodies that are not WhatsApp webhooks, storing nothing', async () => {
    const bad = [
      { object: 'page', entry: [] },
      { object: 'whatsapp_business_account', entry: {} },
      sim.envelope({ messages: [{ id: 'not-a-wamid', type: 'text' }] }),
      sim.envelope({ messages: [{ id: 'wamid.B', type: 'text', timestamp: 'yesterday' }] }),
      sim.envelope({ statuses: [{ id: 'wamid.C' }] }),
      sim.envelope({ statuses: 'sent' as unknown as unknown[] }),
    ];
    for (const body of bad) {
      const response = await sim.postWebhook(created.webhook_url, JSON.stringify(body));
      expect(response.status).toBe(422);
    }
    expect(await rows()).toEqual([]);
  });

  it('skips changes of other fields and other phone numbers', async () => {
    const other = sim.envelope({ messages: [{ from: '254711000001', id: 'wamid.OTHER', timestamp: '1700000000', type: 'text', text: { body: 'x' } }] });
    (other as any).entry[0].changes[0].value.metadata.phone_number_id = '1';
    (other as any).entry[0].changes.push({ field: 'account_update', value: { event: 'VERIFIED_ACCOUNT' } });
    expect((await sim.postWebhook(created.webhook_url, JSON.stringify(other))).status).toBe(200);
    expect(await rows()).toEqual([]);
  });
});

describe('status receipts', () => {
  it('only move a row forward, keep a failure code and title, and create a row for a message not seen before', async () => {
    const wamid = 'wamid.HBgMMjU0NzExMDAwMDAx';
    const status = (name: string, extra: Record<string, unknown> = {}) => ({ id: wamid, status: name, timestamp: '1700000100', recipient_id: '254711000001', ...extra });
    const post = (...statuses: unknown[]) => sim.postWebhook(created.webhook_url, JSON.stringify(sim.envelope({ statuses })));

    expect((await post(status('delivered', { biz_opaque_callback_data: 'row-1' }))).status).toBe(200);
    expect(await rows()).toMatchObject([{ wamid, direction: 'outbound', to: '254711000001', from: sim.displayPhoneNumber, status: 'delivered', routed_to: null }]);
    await post(status('sent'));
    expect((await rows())[0]).toMatchObject({ status: 'delivered' });
    await post(status('read', { timestamp: '1700000200' }));
    await post(status('delivered'));
    const [row] = await rows();
    expect(row).toMatchObject({ status: 'read', timestamp: new Date(1_700_000_200_000) });
    expect(Object.keys(row!.data.statuses).sort()).toEqual(['delivered', 'read']);
    expect(row!.data.statuses.delivered.biz_opaque_callback_data).toBe('row-1');

    const failedId = 'wamid.FAILED1';
    const errors = [{ code: 131026, title: 'Message undeliverable' }];
    await post({ id: failedId, status: 'sent', timestamp: '1700000000', recipient_id: '254711000002' });
    await post({ id: failedId, status: 'failed', timestamp: '1700000001', recipient_id: '254711000002', errors });
    await post({ id: failedId, status: 'sent', timestamp: '1700000000', recipient_id: '254711000002' });
    expect((await rows()).find((r) => r.wamid === failedId)).toMatchObject({ status: 'failed', error_code: 131026, error_title: 'Message undeliverable' });
  });

  it('in one batch, in any order, keep the furthest status and every receipt', async () => {
    const wamid = 'wamid.BATCH1';
    const statuses = ['read', 'sent', 'delivered'].map((status) => ({ id: wamid, status, timestamp: '1700000000', recipient_id: '254711000001' }));
    expect((await sim.postWebhook(created.webhook_url, JSON.stringify(sim.envelope({ statuses })))).status).toBe(200);
    const [row] = await rows();
    expect(row).toMatchObject({ wamid, status: 'read' });
    expect(Object.keys(row!.data.statuses).sort()).toEqual(['delivered', 'read', 'sent']);
  });

  it('the same webhooks three times in any order: one row per message, at its furthest status', async () => {
    const { message } = await sim.receiveInbound({ from: '254711000001', type: 'text' }, created.webhook_url);
    const inbound = JSON.stringify(sim.envelope({ contacts: [{ profile: { name: 'A' }, wa_id: '254711000001' }], messages: [message] }));
    const receipts = ['sent', 'delivered', 'read'].flatMap((status) =>
      ['wamid.OUT1', 'wamid.OUT2'].map((id) => JSON.stringify(sim.envelope({ statuses: [{ id, status, timestamp: '1700000000', recipient_id: '254711000001' }] }))),
    );
    const bodies = [inbound, ...receipts];
    // Reversed, interleaved and forward: every order of arrival, three times each.
    const deliveries = [...[...bodies].reverse(), ...bodies.filter((_, i) => i % 2 === 1), ...bodies.filter((_, i) => i % 2 === 0), ...bodies];
    await Promise.all(deliveries.map((body) => sim.postWebhook(created.webhook_url, body).then((r) => expect(r.status).toBe(200))));
    const stored = await rows();
    expect(stored.map((r) => [r.wamid, r.status]).sort()).toEqual([[message.id, 'received'], ['wamid.OUT1', 'read'], ['wamid.OUT2', 'read']].sort());
  });
});

describe('doctor', () => {
  it('checks the access token against the Graph API', async () => {
    const doctor = () => runCli(database().url, ['doctor', '--json'], { env: { PUBLIC_URL: 'https://sb.example.org' }, registry: defaultRegistry() });
    const healthy = (await doctor()).json().findings as { check: string; status: string; detail: string }[];
    expect(healthy.find((f) => f.check === 'credentials')).toMatchObject({ status: 'ok', detail: expect.stringContaining('Helpline') });
    const lookups = sim.requests.filter((r) => r.path === `/v23.0/${sim.phoneNumberId}`);
    expect(lookups.at(-1)!.headers.authorization).toBe(`Bearer ${sim.accessToken}`);

    await database().db.updateTable('service_integrations').set({ backfill_secret: 'expired' }).where('id', '=', created.id).execute();
    const broken = await doctor();
    expect(broken.code).toBe(1);
    const finding = (broken.json().findings as { check: string; status: string; detail: string }[]).find((f) => f.check === 'credentials');
    expect(finding).toMatchObject({ status: 'fail', detail: expect.stringMatching(/error 190.*integrations update/) });
    expect(finding!.detail).not.toContain('expired"');
  });

  it('after a reset keeps the phone number id, and says webhooks are refused until the secrets are back', async () => {
    expect((await cli('integrations', 'reset', String(created.id), '--access-token', sim.accessToken)).code).toBe(0);
    const findings = (await runCli(database().url, ['doctor', '--json'], { registry: defaultRegistry() })).json().findings as { check: string; status: string; detail: string }[];
    expect(findings.find((f) => f.check === 'credentials')).toMatchObject({ status: 'ok' });
    expect(findings.find((f) => f.check === 'webhooks')).toMatchObject({ status: 'fail', detail: expect.stringContaining('--app-secret') });
    const body = JSON.stringify(sim.envelope({ messages: [{ from: '254711000001', id: 'wamid.R', timestamp: '1700000000', type: 'text', text: { body: 'x' } }] }));
    expect((await sim.postWebhook(created.webhook_url, body)).status).toBe(401);
    expect((await cli('integrations', 'update', String(created.id), '--app-secret', sim.appSecret)).code).toBe(0);
    expect((await sim.postWebhook(created.webhook_url, body)).status).toBe(200);
    expect((await rows()).map((r) => r.wamid)).toEqual(['wamid.R']);
  });
});
