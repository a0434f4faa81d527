/**
 * The SQL views of docs/sql.md: on hand-made rows with known answers, then every example
 * query of the doc against what the demo produces; and the read-only analyst login.
 */
import fs from 'node:fs/promises';
import pg from 'pg';
import { sql } from 'kysely';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { runReadOnlySql } from '../../src/cli/commands/sql.ts';
import { dropDatabase } from '../../src/db/databases.ts';
import { startDemoEnvironment } from '../../src/demo/environment.ts';
import { playDemo } from '../../src/demo/script.ts';
import type { ServiceIntegration } from '../../src/db/schema.ts';
import { createIntegration } from '../../src/engine/integrations.ts';
import { integrationStatus } from '../../src/engine/status.ts';
import { createLogger } from '../../src/log.ts';
import { defaultRegistry } from '../../src/replicators/index.ts';
import { runCli } from '../helpers/cli.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { testEngine } from '../helpers/engine.ts';
import { ROOT } from '../helpers/processes.ts';

const database = useTestDatabase();
const A = '+15550002222';
const B = '+15550003333';
const C = '+15550004444';
let engine: ReturnType<typeof testEngine>;
let sw: ServiceIntegration;
let smsChannel: ServiceIntegration;

beforeAll(async () => {
  engine = testEngine(database().db, {}, defaultRegistry());
  const create = (service: string, flags: Record<string, string>, dependsOn?: string) =>
    createIntegration(engine.db, engine.registry, engine.config, { service, flags, ...(dependsOn ? { dependsOn } : {}) });
  ({ integration: sw } = await create('signalwire_message_v1', { space: 'http://127.0.0.1:9', 'project-id': 'p', 'api-token': 't' }));
  ({ integration: smsChannel } = await create('front_signalwire_message_channel_app_v1', { phone: '+15550001111' }, String(sw.id)));
  const { integration: ussdChannel } = await create('front_ussd_channel_app_v1', { phone: '+15550001111' }, String(sw.id));
  const { integration: ussd } = await create('ussd_request_v1', {});
  const { rows } = await sql<{ pk: number }>`
    INSERT INTO ussd_request_v1 (integration_id, dedupe_key, gateway, turn, data) VALUES (${ussd.id}, 'k1', 'africastalking', '{"serviceCode":"*384*1234#"}', '{}') RETURNING pk`.execute(engine.db);
  const at = (minutes: number) => new Date(Date.now() - minutes * 60_000);
  // A: texts, gets a reply 5 minutes later, comes back 2 hours later by USSD, unanswered.
  await sql`INSERT INTO front_signalwire_message_channel_app_v1
      (integration_id, external_id, external_conversation_id, direction, body, delivery_status, row_created_at, data) VALUES
      (${smsChannel.id}, 'sm1', ${A}, 'inbound', 'hello', 'delivered', ${at(180)}, '{}'),
      (${smsChannel.id}, 'msg1-a', ${A}, 'outbound', 'hi, we are here', 'delivered', ${at(175)}, '{}'),
      (${smsChannel.id}, 'msg2-b', ${B}, 'outbound', 'checking in', 'failed', ${at(10)}, '{}'),
      (${smsChannel.id}, 'swfail-x', ${B}, 'inbound', 'SMS failed to send', 'delivered', ${at(9)}, '{"notice":"signalwire_failure"}')`.execute(engine.db);
  await sql`UPDATE front_signalwire_message_channel_app_v1 SET delivery_error_code = '21717', delivery_error_message = 'From must belong to an active campaign.' WHERE external_id = 'msg2-b'`.execute(engine.db);
  await sql`INSERT INTO front_ussd_channel_app_v1
      (integration_id, external_id, external_conversation_id, direction, body, delivery_status, ussd_request_id, row_created_at, data) VALUES
      (${ussdChannel.id}, 'ussd-1', ${A}, 'inbound', 'me again', 'pending', ${rows[0]!.pk}, ${at(60)}, '{}')`.execute(engine.db);
});

const readOnly = async (pool: pg.Pool, text: string) => {
  const client = await pool.connect();
  try {
    return (await runReadOnlySql(client, text, { timeoutMs: 5000, maxRows: 100 })).rows;
  } finally {
    client.release();
  }
};
const query = (text: string) => readOnly(database().pool, text);

describe('SQL views', () => {
  it('conversations: channels, counts, time to first reply, unanswered', async () => {
    const rows = await query('SELECT conversation_id, channels, inbound_messages, outbound_messages, extract(epoch FROM time_to_first_reply)::int AS reply_s, unanswered FROM conversations ORDER BY 1');
    expect(rows).toEqual([
      { conversation_id: A, channels: ['sms', 'ussd'], inbound_messages: 2, outbound_messages: 1, reply_s: 300, unanswered: true },
      { conversation_id: B, channels: ['sms'], inbound_messages: 0, outbound_messages: 1, reply_s: null, unanswered: false },
    ]);
  });

  it('conversation_sessions: split after 30 minutes of silence, attributed to where the client came in', async () => {
    const rows = await query('SELECT conversation_id, session_number, entry, messages FROM conversation_sessions ORDER BY 1, 2');
    expect(rows).toEqual([
      { conversation_id: A, session_number: 1, entry: 'sms', messages: 2 },
      { conversation_id: A, session_number: 2, entry: 'ussd:*384*1234#', messages: 1 },
      { conversation_id: B, session_number: 1, entry: 'other', messages: 1 },
    ]);
  });

  it('delivery_failures lists what will not be retried, with the provider code', async () => {
    expect(await query('SELECT conversation_id, error_code FROM delivery_failures')).toEqual([{ conversation_id: B, error_code: '21717' }]);
  });

  it('a reply SignalWire accepted and the carrier failed reads as carrier_failed, with its code, and counts as failed', async () => {
    await sql`INSERT INTO front_signalwire_message_channel_app_v1
        (integration_id, external_id, external_conversation_id, direction, body, signalwire_sid, delivery_status, delivered_at, data) VALUES
        (${smsChannel.id}, 'msg3-c', ${C}, 'outbound', 'are you safe?', 'SMc', 'delivered', now(), '{}'),
        (${smsChannel.id}, 'swfail-SMc', ${C}, 'inbound', 'SMS failed to send', 'SMc', 'delivered', now(), '{"notice":"signalwire_failure"}')`.execute(engine.db);
    await sql`INSERT INTO signalwire_message_v1 (integration_id, signalwire_id, direction, status, data) VALUES
        (${sw.id}, 'SMc', 'outbound-api', 'undelivered', '{"error_code": 30003, "error_message": "Unreachable destination handset"}')`.execute(engine.db);

    expect(await query(`SELECT delivery_status, delivery_error_code, transport_status FROM channel_messages WHERE conversation_id = '${C}'`)).toEqual([
      { delivery_status: 'carrier_failed', delivery_error_code: '30003', transport_status: 'undelivered' },
    ]);
    expect(await query(`SELECT error_code, error_message, state FROM delivery_failures WHERE conversation_id = '${C}'`)).toEqual([
      { error_code: '30003', error_message: 'Unreachable destination handset', state: 'carrier_failed' },
    ]);
    const status = await integrationStatus(engine, smsChannel, { reasons: 5 });
    expect(status.failed).toBe(2);
    expect(status.failure_reasons.map((r) => r.reason).sort()).toEqual([
      '21717: From must belong to an active campaign.',
      'carrier undelivered: 30003: Unreachable destination handset',
    ]);
    // A message the carrier delivered is not a failure.
    await sql`UPDATE signalwire_message_v1 SET status = 'delivered' WHERE signalwire_id = 'SMc'`.execute(engine.db);
    expect((await integrationStatus(engine, smsChannel)).failed).toBe(1);
    // The other tests count conversations A and B only.
    await sql`DELETE FROM front_signalwire_message_channel_app_v1 WHERE external_id IN ('msg3-c', 'swfail-SMc')`.execute(engine.db);
  });

  it("a counsellor's USSD reply shows its channel as entry, not ussd:?", async () => {
    const channel = await engine.db.selectFrom('service_integrations').select('id').where('service_name', '=', 'front_ussd_channel_app_v1').executeTakeFirstOrThrow();
    await sql`INSERT INTO front_ussd_channel_app_v1 (integration_id, external_id, external_conversation_id, direction, body, delivery_status, data)
        VALUES (${channel.id}, 'ussd-reply-c', ${C}, 'outbound', 'we are here', 'delivered', '{}')`.execute(engine.db);
    expect(await query(`SELECT channel, entry FROM channel_messages WHERE conversation_id = '${C}'`)).toEqual([{ channel: 'ussd', entry: 'ussd' }]);
    await sql`DELETE FROM front_ussd_channel_app_v1 WHERE external_id = 'ussd-reply-c'`.execute(engine.db);
  });

  it("every example query in docs/sql.md runs", async () => {
    const examples = await docExamples();
    expect(examples.length).toBeGreaterThanOrEqual(5);
    for (const example of examples) await expect(query(example)).resolves.toBeInstanceOf(Array);
  });
});

describe("docs/sql.md's examples against the demo's data", () => {
  it('run, and answer about the conversation the demo played', async () => {
    const env = await startDemoEnvironment({ name: `sqldocs_${process.pid}`, dataDir: `${ROOT}/.switchboard/test-demo`, log: createLogger('silent'), serverUrl: inject('pgServerUrl') });
    const pool = new pg.Pool({ connectionString: env.databaseUrl, max: 2 });
    try {
      await playDemo(env, () => {});
      const answers: Record<string, unknown>[][] = [];
      for (const example of await docExamples()) answers.push(await readOnly(pool, example));
      const [unanswered, firstReplies, entries] = answers;
      // The USSD client's message has no reply yet; the SMS and chatbot clients got one; every way in came in.
      expect(unanswered).toEqual([expect.objectContaining({ conversation_id: '+254712345678' })]);
      expect(firstReplies).toEqual([expect.objectContaining({ conversations: '2' })]);
      expect(entries!.map((e) => e.entry).sort()).toEqual(['chatbot', 'other', 'sms', 'ussd:*384*1234#']);
    } finally {
      await pool.end();
      await env.close();
      await dropDatabase(inject('pgServerUrl'), `switchboard_sqldocs_${process.pid}`);
    }
  });
});

async function docExamples(): Promise<string[]> {
  const doc = await fs.readFile(`${ROOT}/docs/sql.md`, 'utf8');
  return [...doc.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

describe('switchboard db readonly-url', () => {
  it('gives a login that reads the views but cannot write or see credentials', async () => {
    const run = await runCli(database().url, ['db', 'readonly-url', '--json'], { registry: defaultRegistry() });
    expect(run.code).toBe(0);
    const client = new pg.Client({ connectionString: run.json().url });
    await client.connect();
    try {
      expect((await client.query('SELECT count(*)::int AS n FROM conversations')).rows).toEqual([{ n: 2 }]);
      await expect(client.query("DELETE FROM front_ussd_channel_app_v1")).rejects.toThrow(/read-only|permission denied/);
      await expect(client.query('SELECT backfill_secret FROM service_integrations')).rejects.toThrow(/permission denied/);
      expect((await client.query('SELECT service_name FROM service_integrations ORDER BY id')).rows).toHaveLength(4);
    } finally {
      await client.end();
    }
  });
});
