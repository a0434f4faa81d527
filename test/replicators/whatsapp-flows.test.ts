/**
 * Flows over WhatsApp: a whatsapp_message_v1 integration with `--flow`, real Postgres, real
 * HTTP, the WhatsApp simulator. Menus as buttons, a list or numbered text; a walk to the
 * handoff and where each message is routed (and that a dependent is told); duplicate and
 * out-of-order webhooks; sends whose answer was lost; the idle handoff; the sweeper.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { enqueueBackfill } from '../../src/engine/backfill-queue.ts';
import { runBackfillPass } from '../../src/engine/backfill-runner.ts';
import { IntegrationCache, integrationByOpaqueId } from '../../src/engine/integration-cache.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { Registry } from '../../src/engine/registry.ts';
import { defineReplicator, perRow } from '../../src/engine/replicator.ts';
import { buildApp } from '../../src/http/app.ts';
import { BUILT_IN_REPLICATORS } from '../../src/replicators/index.ts';
import { sweepSessions } from '../../src/replicators/ussd-request-v1/sessions.ts';
import { UNKNOWN_SEND_HOLD_S } from '../../src/replicators/whatsapp-message-v1/flows.ts';
import type { WhatsAppSimulator } from '../../src/simulators/whatsapp.ts';
import { runCli } from '../helpers/cli.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { startWhatsAppServer, type WhatsAppServer } from '../helpers/whatsapp-server.ts';
import { queuedJobs } from '../helpers/jobs.ts';
import { spawnNode, type Child } from '../helpers/processes.ts';
import { waitFor } from '../helpers/wait.ts';

const database = useTestDatabase();

/** A dependent of whatsapp_message_v1 that writes down what it is told, as the Front WhatsApp channel would be. */
const watcher = defineReplicator({
  name: 'whatsapp_watch_v1',
  description: 'test dependent',
  remoteKey: 'key',
  columns: [],
  updateWhere: 'false',
  dependsOn: 'whatsapp_message_v1',
  onDependencyUpsert: perRow(async (ctx, { row }) => {
    await sql`INSERT INTO whatsapp_watch_v1 (integration_id, key, routed_to) VALUES (${ctx.integration.id}, ${row.key}, ${(row.columns.routed_to as string | null) ?? null})`.execute(ctx.db);
  }),
});
const registry = () => new Registry([...BUILT_IN_REPLICATORS, watcher]);

const FLOW = {
  version: 1,
  start: 'main',
  screens: {
    main: {
      type: 'menu',
      title: 'Child Helpline',
      choices: [
        { label: 'Talk to a counsellor', next: 'message' },
        { label: 'Information', next: 'info' },
        { number: '0', label: 'Exit', next: 'bye' },
      ],
    },
    message: { type: 'prompt', text: 'Type your message:', save: 'message', next: 'consent' },
    consent: { type: 'menu', title: 'May a counsellor call you?', choices: [{ label: 'Yes', next: 'sent', set: { call: true } }, { label: 'No', next: 'sent' }] },
    sent: { type: 'end', text: 'Thank you. A counsellor will answer here.', action: 'submit_message' },
    info: {
      type: 'menu',
      title: 'What about?',
      choices: [
        { label: 'School', next: 'bye' },
        { label: 'Family', next: 'bye' },
        { label: 'Staying safe online and on the phone', next: 'bye' },
        { label: 'Health', next: 'bye' },
        { label: 'More topics', next: 'more' },
      ],
    },
    more: { type: 'menu', title: 'Topics', choices: Array.from({ length: 12 }, (_v, i) => ({ label: `Topic ${i + 1}`, next: 'bye' })) },
    bye: { type: 'end', text: 'Goodbye. Write again any time.' },
  },
};

let server: WhatsAppServer | undefined;
let sim: WhatsAppSimulator;
let engine: Engine;
let app: FastifyInstance;
let publicUrl: string;
let flowFile: string;
let created: { id: number; opaque_id: string; webhook_url: string };

const cli = (...args: string[]) => runCli(database().url, args, { env: { PUBLIC_URL: publicUrl }, registry: registry() });

beforeAll(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-flow-'));
  flowFile = path.join(dir, 'flow.json');
  fs.writeFileSync(flowFile, JSON.stringify(FLOW));
  // Its table is its log: one row per event, in order.
  await sql`CREATE TABLE IF NOT EXISTS whatsapp_watch_v1 (pk bigserial PRIMARY KEY, integration_id bigint, key text, routed_to text,
    data jsonb NOT NULL DEFAULT '{}', row_created_at timestamptz NOT NULL DEFAULT now(), row_updated_at timestamptz NOT NULL DEFAULT now())`.execute(database().db);
  server = await startWhatsAppServer(database().db, registry());
  ({ sim, engine, app, publicUrl } = server);
});
afterAll(() => server?.close());

beforeEach(async () => {
  await sql`TRUNCATE service_integrations, webhook_log, whatsapp_watch_v1, idempotency_keys CASCADE`.execute(database().db);
  await sql`DELETE FROM graphile_worker._private_jobs`.execute(database().db);
  sim.requests.length = 0;
  sim.faults.script = [];
  const run = await cli(
    'integrations', 'create', 'whatsapp_message_v1',
    '--phone-number-id', sim.phoneNumberId, '--access-token', sim.accessToken, '--app-secret', sim.appSecret,
    '--verify-token', 'verify-me-0123456789', '--api-url', sim.url, '--flow', flowFile, '--json',
  );
  expect(run.code, run.stderr).toBe(0);
  created = run.json();
  const watch = await cli('integrations', 'create', 'whatsapp_watch_v1', '--depends-on', String(created.id), '--json');
  expect(watch.code, watch.stderr).toBe(0);
});

let clientNumber = 254711000100;
const newClient = () => String(clientNumber++);

const pass = async () => {
  const outcome = await runBackfillPass(engine, created.id, { incremental: true, recursive: false, trigger: 'test' });
  return outcome.status === 'failed' ? `failed: ${outcome.error.message}` : outcome.status;
};
/** What the client was sent, oldest first. */
const sentTo = (client: string) => sim.sent().filter((m) => m.to === client);
const text = (from: string, body: string) => sim.receiveInbound({ from, type: 'text', fields: { text: { body } } }, created.webhook_url);
/** Each message written, and a pass after it. */
async function say(from: string, ...bodies: string[]) {
  for (const body of bodies) {
    await text(from, body);
    expect(await pass()).toBe('succeeded');
  }
}
/** A tap on a button or list row of the last message the client got. */
async function tap(from: string, title: string) {
  const last = sentTo(from).at(-1)!.request.interactive as { type: string; action: { buttons?: { reply: { id: string; title: string } }[]; sections?: { rows: { id: string; title: string }[] }[] } };
  const options = last.type === 'button' ? last.action.buttons!.map((b) => b.reply) : last.action.sections!.flatMap((s) => s.rows);
  const picked = options.find((o) => o.title === title)!;
  const reply = last.type === 'button' ? { type: 'button_reply', button_reply: picked } : { type: 'list_reply', list_reply: picked };
  return sim.receiveInbound({ from, type: 'interactive', fields: { interactive: reply } }, created.webhook_url);
}
const routes = async (from: string) =>
  (await sql<{ routed_to: string | null }>`
    SELECT routed_to FROM whatsapp_message_v1 WHERE integration_id = ${created.id} AND "from" = ${from} AND direction = 'inbound' ORDER BY "timestamp", pk`.execute(engine.db)).rows.map((r) => r.routed_to);
const bodyOf = (message: { request: Record<string, unknown> }) => (message.request.text as { body: string } | undefined)?.body;

describe('whatsapp_message_v1 --flow', () => {
  it('stores the flow: info shows it as a summary, and the setup steps say clients walk it', async () => {
    const info = await cli('integrations', 'info', String(created.id));
    expect(info.stdout).toContain('flow document, 7 screens, starting at "main"');
    expect(info.stdout).toContain('Clients walk the flow given with --flow before their messages go to Front (handoff idle: 30 min).');
  });

  it('refuses an invalid flow at update, keeping the stored one', async () => {
    const bad = path.join(path.dirname(flowFile), 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ version: 1, start: 'nowhere', screens: {} }));
    const run = await cli('integrations', 'update', String(created.id), '--flow', bad);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('start: unknown screen "nowhere"');
    expect((await cli('integrations', 'update', String(created.id), '--handoff-idle', '0')).stderr).toMatch(/positive whole number of minutes/);
    expect((await cli('integrations', 'info', String(created.id))).stdout).toContain('flow document, 7 screens');
  });

  it('stores inbound messages undecided and asks for the flow pass in the webhook transaction', async () => {
    const client = newClient();
    expect((await text(client, 'hi')).status).toBe(200);
    expect(await routes(client)).toEqual([null]);
    const jobs = await queuedJobs(engine.db);
    expect(jobs.map((j) => j.key)).toEqual([`backfill:${created.id}`]);
  });

  it('asks for passes only while the number has a flow: removing it stops them, adding it back starts them (seen through the integration cache)', async () => {
    // A second server over the same engine, with the integration cache, as `switchboard start` runs.
    const cached: Engine = { ...engine, integrations: new IntegrationCache(database().url, engine.log) };
    const cachedApp = await buildApp({ engine: cached, config: cached.config });
    try {
      const hook = `${await cachedApp.listen({ host: '127.0.0.1', port: 0 })}/v1/service_integrations/${created.opaque_id}`;
      const flowSeen = async () => typeof (await integrationByOpaqueId(cached, created.opaque_id))?.settings.flow === 'string';
      const passes = async () => (await queuedJobs(engine.db)).map((j) => j.key);
      const write = async (from: string) => expect((await sim.receiveInbound({ from, type: 'text', fields: { text: { body: 'hi' } } }, hook)).status).toBe(200);
      // The first lookup starts the cache listening; from then on lookups are served from it.
      const listening = async () =>
        (await flowSeen()) &&
        (await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'switchboard-cache' AND query LIKE 'LISTEN%'`.execute(engine.db)).rows[0]!.n > 0;
      await waitFor(listening, { what: 'the cache listening' });
      await write(newClient());
      expect(await passes()).toEqual([`backfill:${created.id}`]);
      await sql`DELETE FROM graphile_worker._private_jobs`.execute(engine.db);

      await sql`UPDATE service_integrations SET settings = settings - 'flow' WHERE id = ${created.id}`.execute(engine.db);
      await waitFor(async () => !(await flowSeen()), { what: 'the cache to see the flow removed' });
      const before = newClient();
      await write(before);
      expect(await routes(before)).toEqual(['front']);
      expect(await passes()).toEqual([]);

      expect((await cli('integrations', 'update', String(created.id), '--flow', flowFile)).code).toBe(0);
      await waitFor(flowSeen, { what: 'the cache to see the flow added' });
      const after = newClient();
      await write(after);
      expect(await routes(after)).toEqual([null]);
      expect(await passes()).toEqual([`backfill:${created.id}`]);
    } finally {
      await cachedApp.close();
      await cached.integrations!.close();
    }
  });
});

describe('menus', () => {
  it('≤ 3 choices as reply buttons, ≤ 10 as a list, more as numbered text; answered by id, title or number', async () => {
    const client = newClient();
    await text(client, 'hello');
    expect(await pass()).toBe('succeeded');
    const buttons = sentTo(client)[0]!.request;
    expect(buttons).toMatchObject({ messaging_product: 'whatsapp', to: client, type: 'interactive', interactive: { type: 'button', body: { text: 'Child Helpline' } } });
    expect((buttons.interactive as any).action.buttons.map((b: any) => b.reply.title)).toEqual(['Talk to a counsellor', 'Information', 'Exit']);

    await tap(client, 'Information');
    await pass();
    const list = sentTo(client)[1]!.request.interactive as any;
    expect(list.type).toBe('list');
    const rows = list.action.sections[0].rows;
    expect(rows.map((r: any) => r.title)).toEqual(['School', 'Family', 'Staying safe online and…', 'Health', 'More topics']);
    expect(rows[2].description).toBe('Staying safe online and on the phone');

    // Typing a row's title (any case) picks it like a tap.
    await text(client, 'more TOPICS');
    await pass();
    const numbered = bodyOf(sentTo(client)[2]!)!;
    expect(numbered.split('\n')).toEqual(['Topics', '', ...Array.from({ length: 12 }, (_v, i) => `${i + 1}. Topic ${i + 1}`)]);

    await text(client, '12');
    await pass();
    expect(bodyOf(sentTo(client)[3]!)).toBe('Goodbye. Write again any time.');
    // Choices are the flow's; what the client wrote first goes to Front when the session ends.
    expect(await routes(client)).toEqual(['front', 'flow', 'flow', 'flow']);
  });

  it('an answer that is no choice, or a tap on an older menu, gets the menu again headed "Invalid choice."', async () => {
    const client = newClient();
    await text(client, 'hello');
    await pass();
    const oldMenu = sentTo(client)[0]!;
    await tap(client, 'Information');
    await pass();
    // The main menu's "Exit" button again, now that the list is showing.
    const exit = (oldMenu.request.interactive as any).action.buttons[2].reply;
    await sim.receiveInbound({ from: client, type: 'interactive', fields: { interactive: { type: 'button_reply', button_reply: exit } } }, created.webhook_url);
    await text(client, '9');
    await pass();
    const [again, third] = sentTo(client).slice(2).map((m) => m.request.interactive as any);
    expect([again.type, again.body.text, third.body.text]).toEqual(['list', 'Invalid choice.\nWhat about?', 'Invalid choice.\nWhat about?']);
  });
});

describe('a walk to the handoff', () => {
  it('routes choices to the flow and what the client wrote to Front, then every later message to Front; the dependent is told', async () => {
    const client = newClient();
    await text(client, 'hi');
    await pass();
    await tap(client, 'Talk to a counsellor');
    await pass();
    expect(bodyOf(sentTo(client)[1]!)).toBe('Type your message:');
    await text(client, 'my dad hits me');
    await pass();
    expect(await routes(client)).toEqual([null, 'flow', null]);
    await text(client, 'yes');
    await pass();
    expect(bodyOf(sentTo(client)[3]!)).toBe('Thank you. A counsellor will answer here.');
    expect(await routes(client)).toEqual(['front', 'flow', 'front', 'flow']);

    await text(client, 'are you there?');
    await pass();
    expect(await routes(client)).toEqual(['front', 'flow', 'front', 'flow', 'front']);
    // No flow reply to a message in the handoff.
    expect(sentTo(client)).toHaveLength(4);

    // The dependent saw each message stored undecided, then decided once.
    const { rows } = await sql<{ wamid: string; routed_to: string | null }>`SELECT key AS wamid, routed_to FROM whatsapp_watch_v1 ORDER BY pk`.execute(engine.db);
    const decided = rows.filter((r) => r.routed_to !== null);
    expect(decided.map((r) => r.routed_to)).toEqual(['flow', 'flow', 'front', 'front', 'front']);
    expect(new Set(decided.map((r) => r.wamid)).size).toBe(5);
  });

  it('after the idle time the handoff closes and the next message starts the flow again', async () => {
    const client = newClient();
    await say(client, 'hi', '1', 'help', 'No');
    expect(sentTo(client)).toHaveLength(4);
    // The conversation went quiet for longer than --handoff-idle (30 minutes by default).
    await sql`UPDATE ussd_sessions SET last_hop_at = now() - interval '31 minutes' WHERE integration_id = ${created.id}`.execute(engine.db);
    await text(client, 'hello again');
    await pass();
    expect(sentTo(client)).toHaveLength(5);
    expect((sentTo(client)[4]!.request.interactive as any).type).toBe('button');
    expect((await routes(client)).at(-1)).toBeNull();
  });

  it('a counsellor reply (its receipt) keeps the handoff open past the idle time of the client alone', async () => {
    const client = newClient();
    await say(client, 'hi', '1', 'help', 'No');
    await sql`UPDATE ussd_sessions SET last_hop_at = now() - interval '31 minutes' WHERE integration_id = ${created.id}`.execute(engine.db);
    // A reply sent by the Front channel: its receipt arrives by webhook.
    await sim.sendStatus('wamid.counsellor-reply-1', 'sent', created.webhook_url, { recipient: client });
    await text(client, 'thank you');
    await pass();
    expect((await routes(client)).at(-1)).toBe('front');
    expect(sentTo(client)).toHaveLength(4);
  });
});

describe('duplicates and order', () => {
  it('the same webhooks three times, out of order: each message handled once, in order', async () => {
    const client = newClient();
    const at = Math.floor(Date.now() / 1000);
    const message = (n: number, body: string) => ({ from: client, id: `wamid.dup-${client}-${n}`, timestamp: String(at + n), type: 'text', text: { body } });
    const webhooks = [message(1, 'hi'), message(2, '2'), message(3, 'School')].map((m) => JSON.stringify(sim.envelope({ messages: [m] })));
    for (const round of [0, 1, 2]) {
      for (const body of round === 1 ? [...webhooks].reverse() : [webhooks[2]!, webhooks[0]!, webhooks[1]!]) {
        expect((await sim.postWebhook(created.webhook_url, body)).status).toBe(200);
      }
      expect(await pass()).toBe('succeeded');
    }
    const replies = sentTo(client).map((m) => (m.request.interactive as any)?.type ?? bodyOf(m));
    // hi → the main menu; 2 → the list; School → goodbye: once each, in the messages' order.
    expect(replies).toEqual(['button', 'list', 'Goodbye. Write again any time.']);
    expect(await routes(client)).toEqual(['front', 'flow', 'flow']);
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM whatsapp_flow_steps WHERE integration_id = ${created.id}`.execute(engine.db);
    expect(rows[0]!.n).toBe(3);
  });
});

describe('sends whose answer was lost', () => {
  const postsTo = (client: string) => sim.requests.filter((r) => r.method === 'POST' && (r.body as { to?: string } | null)?.to === client);

  it('a lost answer is not resent: the send waits for its receipt and adopts it', async () => {
    const client = newClient();
    sim.faults.script = [{ kind: 'lost-response' }];
    await text(client, 'hi');
    expect(await pass()).toMatch(/^failed/);
    expect(sentTo(client)).toHaveLength(1);
    // Passes before the receipt hold the reply instead of sending it again.
    expect(await pass()).toBe('succeeded');
    expect(postsTo(client)).toHaveLength(1);
    const jobs = await queuedJobs(engine.db);
    expect(jobs.some((j) => j.key === `backfill:${created.id}`)).toBe(true);
    // The receipt names our send (biz_opaque_callback_data): adopted.
    await sim.sendStatus(sentTo(client)[0]!.wamid, 'sent', created.webhook_url);
    await pass();
    const { rows } = await sql<{ sent_wamid: string }>`SELECT sent_wamid FROM whatsapp_flow_steps WHERE recipient = ${client}`.execute(engine.db);
    expect(rows.map((r) => r.sent_wamid)).toEqual([sentTo(client)[0]!.wamid]);
    // The walk goes on: the next reply is sent once too.
    await text(client, '2');
    await pass();
    expect(postsTo(client)).toHaveLength(2);
    expect(sentTo(client)).toHaveLength(2);
  });

  it('without a receipt, the reply is sent again only after the hold; a refused send (5xx) is retried once', async () => {
    const client = newClient();
    sim.faults.script = [{ kind: 'reset' }];
    await text(client, 'hi');
    expect(await pass()).toMatch(/^failed/);
    expect(await pass()).toBe('succeeded');
    expect(sentTo(client)).toHaveLength(0);
    await sql`UPDATE whatsapp_flow_steps SET send_started_at = now() - interval '6 minutes' WHERE recipient = ${client}`.execute(engine.db);
    expect(await pass()).toBe('succeeded');
    expect(sentTo(client)).toHaveLength(1);

    sim.faults.script = [{ kind: 'status', status: 500, body: { error: { code: 1, message: 'unknown' } } }];
    await text(client, '2');
    expect(await pass()).toMatch(/^failed/);
    expect(await pass()).toBe('succeeded');
    expect(sentTo(client)).toHaveLength(2);
    expect(await pass()).toBe('succeeded');
    expect(sentTo(client)).toHaveLength(2);
  });
});

describe('a coded refusal', () => {
  it('131026 (not on WhatsApp) is final for that reply: kept with its code, not sent again, the pass goes on', async () => {
    const client = newClient();
    sim.undeliverable.add(client);
    try {
      await say(client, 'hi');
      await say(client, 'hi again');
    } finally {
      sim.undeliverable.delete(client);
    }
    const { rows } = await sql<{ error_code: number | null; sent_wamid: string | null }>`
      SELECT error_code, sent_wamid FROM whatsapp_flow_steps WHERE recipient = ${client} ORDER BY pk`.execute(engine.db);
    expect(rows).toEqual([{ error_code: 131026, sent_wamid: null }, { error_code: 131026, sent_wamid: null }]);
    const posts = sim.requests.filter((r) => r.method === 'POST' && (r.body as { to?: string } | null)?.to === client);
    expect(posts).toHaveLength(2);
    // Counted as failed by status, each with its reason (the dashboard's grouping).
    const status = (await cli('status', '--json')).json<{ integrations: { id: number; failed: number }[] }>();
    expect(status.integrations.find((i) => i.id === created.id)!.failed).toBe(2);
    const wa = registry().get('whatsapp_message_v1');
    const reasons = await sql
      .raw<{ reason: string }>(`SELECT ${wa.failedReason} AS reason FROM whatsapp_message_v1 WHERE integration_id = ${created.id} AND (${wa.failedWhere})`)
      .execute(engine.db);
    expect(reasons.rows.map((r) => r.reason)).toEqual([expect.stringMatching(/^flow reply refused: 131026 /), expect.stringMatching(/^flow reply refused: 131026 /)]);
  });
});

describe('the sweeper', () => {
  it('closes a WhatsApp session after its own idle time, not the USSD timeout, and what the client wrote goes to Front', async () => {
    const client = newClient();
    await say(client, 'hi', '1', 'I need help');
    expect(await routes(client)).toEqual([null, 'flow', null]);
    await sql`DELETE FROM graphile_worker._private_jobs`.execute(engine.db);
    await sql`UPDATE ussd_sessions SET last_hop_at = now() - interval '10 minutes' WHERE integration_id = ${created.id}`.execute(engine.db);
    expect(await sweepSessions(engine.db, 180)).toBe(0);
    await sql`UPDATE ussd_sessions SET last_hop_at = now() - interval '31 minutes' WHERE integration_id = ${created.id}`.execute(engine.db);
    expect(await sweepSessions(engine.db, 180)).toBe(1);
    const { rows } = await sql<{ status: string; close_reason: string; state: unknown }>`
      SELECT status, close_reason, state FROM ussd_sessions WHERE integration_id = ${created.id}`.execute(engine.db);
    expect(rows).toEqual([{ status: 'closed', close_reason: 'abandoned', state: null }]);
    // The sweep asked for the integration's pass, which hands the held messages over.
    expect((await queuedJobs(engine.db)).map((j) => j.key)).toEqual([`backfill:${created.id}`]);
    await pass();
    expect(await routes(client)).toEqual(['front', 'flow', 'front']);
  });
});

describe('conversation_sessions', () => {
  it('attributes a session that began in a WhatsApp flow to the entry channel whatsapp', async () => {
    const client = newClient();
    await say(client, 'hi', '2');
    const { rows } = await sql<{ entry: string; inbound_messages: number }>`
      SELECT entry, inbound_messages::int FROM conversation_sessions WHERE conversation_id = ${`+${client}`}`.execute(engine.db);
    expect(rows).toEqual([{ entry: 'whatsapp', inbound_messages: 2 }]);
  });
});

describe('a worker killed mid-pass', () => {
  it('never sends a flow reply twice and loses none', { timeout: 180_000 }, async () => {
    // The worker process knows only the shipped replicators.
    await sql`DELETE FROM service_integrations WHERE service_name = 'whatsapp_watch_v1'`.execute(engine.db);
    const clients = Array.from({ length: 24 }, () => newClient());
    for (const client of clients) expect((await text(client, 'hi')).status).toBe(200);
    sim.faults.latencyMs = 40;
    const env = { DATABASE_URL: database().url, PUBLIC_URL: publicUrl, SWITCHBOARD_POLL_CRON: '0 0 1 1 *', LOG_LEVEL: 'warn' };
    const posts = () => sim.requests.filter((r) => r.method === 'POST').length;
    const ours = () => sim.sent().filter((m) => clients.includes(m.to));
    // As Meta does: a receipt for every message sent, carrying our tag back.
    const receipts = async () => {
      for (const m of ours()) await sim.sendStatus(m.wamid, 'sent', created.webhook_url);
    };
    const workers: Child[] = [];
    try {
      for (let round = 0; round < 3; round++) {
        const before = posts();
        const worker = spawnNode(['bin/switchboard.js', 'worker'], env);
        workers.push(worker);
        await waitFor(() => posts() >= before + 3, { timeoutMs: 60_000, intervalMs: 5, what: 'sends before the kill' });
        expect(await worker.stop('SIGKILL')).toBe('SIGKILL');
        await receipts();
      }
      workers.push(spawnNode(['bin/switchboard.js', 'worker'], env));
      const replied = async () =>
        (await sql<{ n: number }>`SELECT count(*)::int AS n FROM whatsapp_flow_steps WHERE integration_id = ${created.id} AND sent_wamid IS NOT NULL`.execute(engine.db)).rows[0]!.n;
      await waitFor(async () => {
        await receipts();
        // A kill before the request reached Meta leaves a send no receipt will name: let its hold pass.
        const aged = await sql`UPDATE whatsapp_flow_steps SET send_started_at = now() - make_interval(secs => ${UNKNOWN_SEND_HOLD_S + 1})
          WHERE integration_id = ${created.id} AND sent_wamid IS NULL AND send_started_at < now() - interval '5 seconds'`.execute(engine.db);
        if (Number(aged.numAffectedRows) > 0) await enqueueBackfill(engine.db, [{ integration_id: created.id, incremental: true, recursive: false, trigger: 'test' }]);
        return (await replied()) === clients.length;
      }, { timeoutMs: 120_000, intervalMs: 200, what: 'every client answered' });
    } finally {
      sim.faults.latencyMs = 0;
      await Promise.all(workers.map((w) => w.stop('SIGKILL')));
    }
    for (const client of clients) expect(sentTo(client), client).toHaveLength(1);
    const { rows } = await sql<{ sent: string[] }>`SELECT array_agg(sent_wamid ORDER BY pk) AS sent FROM whatsapp_flow_steps WHERE integration_id = ${created.id}`.execute(engine.db);
    expect([...rows[0]!.sent].sort()).toEqual(ours().map((m) => m.wamid).sort());
  });
});
