/**
 * Group commit (src/engine/group-commit.ts): webhooks of one integration that arrive while
 * its commit is in flight share the next transaction; each is answered after that commit;
 * a row Postgres refuses, or a batch whose connection dies, fails no other request.
 * A test transaction holding a row lock keeps the first commit in flight, so what queues
 * behind it is known exactly.
 */
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { commitWebhookRows } from '../../src/engine/group-commit.ts';
import { signExample } from '../fixtures/example-replicators.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { useExampleServer } from '../helpers/engine.ts';
import { waitFor } from '../helpers/wait.ts';

const database = useTestDatabase();
const server = useExampleServer(database);

interface Answer {
  id: string;
  status: number;
  /** Whether the row was visible to another connection the moment the answer came. */
  storedWhenAnswered: boolean;
}

const settled = new Set<string>();

/** POST one signed message; resolves with its answer and whether its row was committed by then. */
function send(id: string, version = 1): Promise<Answer> {
  const body = JSON.stringify({ messages: [{ id, body: 'hello', version }] });
  return fetch(`${server.base}/v1/service_integrations/${server.messages.opaque_id}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'x-example-signature': signExample('whsec-test', body) },
  }).then(async (response) => {
    const storedWhenAnswered = await stored(id);
    settled.add(id);
    await response.arrayBuffer();
    return { id, status: response.status, storedWhenAnswered };
  });
}

async function stored(id: string, table = 'example_message_v1', integrationId = server.messages.id): Promise<boolean> {
  const { rows } = await sql`SELECT 1 FROM ${sql.table(table)} WHERE integration_id = ${integrationId} AND message_id = ${id}`.execute(database().db);
  return rows.length > 0;
}

/** Hold a row lock on message `id` (an uncommitted insert) until `release()`; then commit it at version 0. */
async function holdRow(id: string): Promise<{ release(): Promise<void> }> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let holding!: () => void;
  const held = new Promise<void>((resolve) => (holding = resolve));
  const done = database().db.transaction().execute(async (trx) => {
    await sql`INSERT INTO example_message_v1 (integration_id, message_id, version, data) VALUES (${server.messages.id}, ${id}, 0, '{}')`.execute(trx);
    holding();
    await released;
  });
  await held;
  return {
    release: async () => {
      release();
      await done;
    },
  };
}

/** Backends of this database waiting on a lock (a commit held in flight by holdRow). */
async function lockWaiters(): Promise<number[]> {
  const { rows } = await sql<{ pid: number }>`
    SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`.execute(database().db);
  return rows.map((r) => r.pid);
}

/** A metric's value from GET /metrics (sum over its label sets matching `labels`). */
async function metric(name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${server.base}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{${labels}`) || (labels === '' && line.startsWith(`${name} `))) total += Number(line.split(' ').at(-1));
  }
  return total;
}

describe('group commit of webhooks', () => {
  it('commits the webhooks that arrived during a commit in one transaction, answering each after it', async () => {
    const holder = await holdRow('gc-first');
    const commitsBefore = await metric('switchboard_webhook_commits_total', 'outcome="committed"');
    const batchedBefore = await metric('switchboard_webhook_batch_requests_sum');
    const first = send('gc-first', 1);
    await waitFor(async () => (await lockWaiters()).length === 1, { what: 'the first commit to wait on the held row' });
    const ids = Array.from({ length: 10 }, (_, i) => `gc-${i}`);
    const rest = ids.map((id) => send(id));
    await waitFor(async () => (await metric('switchboard_webhook_requests_waiting')) === 10, { what: 'ten webhooks queued' });

    expect(settled.has('gc-first') || ids.some((id) => settled.has(id))).toBe(false);
    expect(await stored('gc-0')).toBe(false);

    await holder.release();
    const answers = await Promise.all([first, ...rest]);
    for (const answer of answers) expect(answer).toEqual({ id: answer.id, status: 202, storedWhenAnswered: true });
    // One commit for the first request, one for the ten that waited.
    expect((await metric('switchboard_webhook_commits_total', 'outcome="committed"')) - commitsBefore).toBe(2);
    expect((await metric('switchboard_webhook_batch_requests_sum')) - batchedBefore).toBe(11);
    // Dependents were told about every row of the batch.
    for (const id of ids) expect(await stored(id, 'example_delivery_v1', server.deliveries.id)).toBe(true);
    const version = await sql<{ version: number }>`SELECT version FROM example_message_v1 WHERE integration_id = ${server.messages.id} AND message_id = 'gc-first'`.execute(database().db);
    expect(version.rows[0]?.version).toBe(1);
  });

  it('fails only the request whose row Postgres refuses; the others are stored and answered 2xx', async () => {
    const holder = await holdRow('poison-first');
    const retriedBefore = await metric('switchboard_webhook_commits_total', 'outcome="retried"');
    const first = send('poison-first', 1);
    await waitFor(async () => (await lockWaiters()).length === 1, { what: 'the first commit to wait' });
    // 10^12 is a number to the replicator but out of range for the integer column.
    const batch = [send('poison-a'), send('poison-bad', 1e12), send('poison-b'), send('poison-c')];
    await waitFor(async () => (await metric('switchboard_webhook_requests_waiting')) === 4, { what: 'four webhooks queued' });
    await holder.release();

    const [firstAnswer, a, bad, b, c] = await Promise.all([first, ...batch]);
    for (const answer of [firstAnswer!, a!, b!, c!]) expect(answer).toEqual({ id: answer.id, status: 202, storedWhenAnswered: true });
    expect(bad!.status).toBe(500);
    expect(await stored('poison-bad')).toBe(false);
    expect((await metric('switchboard_webhook_commits_total', 'outcome="retried"')) - retriedBefore).toBe(1);
  });

  it('retries a batch whose connection died one request at a time: a 2xx only for committed rows', async () => {
    const firstHolder = await holdRow('died-first');
    const first = send('died-first');
    await waitFor(async () => (await lockWaiters()).length === 1, { what: 'the first commit to wait' });
    const secondHolder = await holdRow('died-a');
    const batch = [send('died-a', 1), send('died-b'), send('died-c')];
    await waitFor(async () => (await metric('switchboard_webhook_requests_waiting')) === 3, { what: 'three webhooks queued' });
    await firstHolder.release();
    expect((await first).status).toBe(202);
    // The batch of three now waits on died-a's lock: its connection dies mid-transaction.
    const [pid] = await waitFor(async () => {
      const pids = await lockWaiters();
      return pids.length === 1 && pids;
    }, { what: 'the batch to wait' });
    await sql`SELECT pg_terminate_backend(${pid}::int)`.execute(database().db);
    // Retried one by one: died-b and died-c commit; died-a waits for the held row again.
    await waitFor(async () => (await stored('died-b')) && (await stored('died-c')), { what: 'the retried requests' });
    expect(settled.has('died-a')).toBe(false);
    await secondHolder.release();
    for (const answer of await Promise.all(batch)) expect(answer).toEqual({ id: answer.id, status: 202, storedWhenAnswered: true });
  });

  it('keeps requests for the same row in order: each meets the update condition in turn', async () => {
    const holder = await holdRow('order-first');
    const first = commitWebhookRows(server.engine, server.messages, [{ key: 'order-first', columns: { body: 'x', version: 1 }, data: {} }]);
    await waitFor(async () => (await lockWaiters()).length === 1, { what: 'the first commit to wait' });
    const row = (key: string, version: number) => ({ key, columns: { body: `v${version}`, version }, data: { version } });
    const newer = commitWebhookRows(server.engine, server.messages, [row('order-k', 2)]);
    const older = commitWebhookRows(server.engine, server.messages, [row('order-k', 1)]);
    const repeated = commitWebhookRows(server.engine, server.messages, [row('order-j', 1), row('order-j', 3)]);
    await holder.release();

    await first;
    expect((await newer).map((r) => [r.key, r.changed])).toEqual([['order-k', true]]);
    expect((await older).map((r) => [r.key, r.changed])).toEqual([['order-k', false]]);
    expect((await repeated).map((r) => [r.key, r.columns.version, r.changed])).toEqual([['order-j', 3, true]]);
    const { rows } = await sql<{ message_id: string; version: number }>`
      SELECT message_id, version FROM example_message_v1 WHERE message_id IN ('order-k', 'order-j') ORDER BY message_id`.execute(database().db);
    expect(rows).toEqual([{ message_id: 'order-j', version: 3 }, { message_id: 'order-k', version: 2 }]);
  });
});
