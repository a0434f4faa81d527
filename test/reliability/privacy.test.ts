/**
 * Item 9 of the reliability issue: at info level, logs carry no phone number (in any
 * format) and no message body. Two real runs are read: `switchboard demo` (server and worker
 * in one process: SMS in, a reply to two clients, a carrier failure, a USSD session) and a
 * `switchboard worker` delivering through failing providers (retries, a coded refusal, a
 * lost answer), whose error answers quote the numbers as providers do.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CHANNEL_ID, setUpChannel, SUPPORT, type ChannelSetup } from '../helpers/channel.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { spawnNode, type Child } from '../helpers/processes.ts';
import { workerEnv, spawnWorker } from '../helpers/reliability.ts';
import { waitFor } from '../helpers/wait.ts';

const database = useTestDatabase();
let setup: ChannelSetup;
const children: Child[] = [];

beforeAll(async () => {
  setup = await setUpChannel(database());
  await setup.frontClient.authorize(CHANNEL_ID);
});
afterAll(async () => {
  await Promise.all(children.map((c) => c.stop('SIGKILL')));
  await setup.close();
});

/** The JSON log lines of a process's output (the demo also prints its own, masked, lines). */
function logLines(output: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Every string in a log line, with separators people put in numbers taken out. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value, value.replace(/[\s().\-/]/g, '')];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

/** A number in any format (E.164, national, digits only) still shows its last seven digits. */
const leaks = (lines: Record<string, unknown>[], numbers: string[], bodies: string[]) =>
  lines.flatMap((line) => {
    const texts = strings(line);
    const found = [...numbers.map((n) => n.slice(-7)), ...bodies].filter((secret) => texts.some((t) => t.includes(secret)));
    return found.length > 0 ? [{ found, line }] : [];
  });

describe('logs at info level', () => {
  it('of the demo conversation hold no phone number and no message body', { timeout: 90_000 }, async () => {
    const demo = spawnNode(['bin/switchboard.js', 'demo'], { DATABASE_URL: inject('pgServerUrl'), LOG_LEVEL: 'info' });
    children.push(demo);
    expect(await demo.exited, demo.output()).toBe(0);
    const lines = logLines(demo.output());
    expect(lines.filter((l) => l.level === 30).length).toBeGreaterThan(5);
    // The demo script's numbers and texts (src/demo/script.ts).
    const numbers = ['+15550001111', '+15550002222', '+15550003333', '+254712345678'];
    const bodies = ['need to talk to someone', 'We are here for you', 'scared to go home'];
    expect(leaks(lines, numbers, bodies)).toEqual([]);
  });

  it('of a worker delivering through failing providers hold none either', { timeout: 90_000 }, async () => {
    const client = '+15550004444';
    const quoting = (status: number, code: number) => ({ kind: 'status' as const, status, body: { code, message: `Could not deliver to ${client} from ${SUPPORT}`, status } });
    setup.signalwire.faults.script.push(quoting(500, 30008), { kind: 'reset' }, quoting(429, 20429), { kind: 'lost-response' });
    setup.front.faults.script.push({ kind: 'status', status: 503, body: { _error: { status: 503, message: `Could not import from ${client}` } } });
    await setup.signalwire.receiveInbound({ from: client, to: SUPPORT, body: 'my secret inbound text' }, `${setup.publicUrl}/v1/service_integrations/${setup.sw.opaque_id}`);
    await setup.frontClient.message({ id: 'msg_private', channelId: CHANNEL_ID, text: 'a private reply', to: [client] });
    await setup.frontClient.message({ id: 'msg_refused', channelId: CHANNEL_ID, text: 'a refused reply', to: ['+15550005555'] });

    const worker = spawnWorker(workerEnv(setup, { LOG_LEVEL: 'info' }));
    children.push(worker);
    // The refused reply: a coded error quoting the number, after the others went through.
    setup.signalwire.faults.script.push(quoting(400, 21211));
    await waitFor(async () => (await setup.rows()).every((r) => r.delivery_status !== 'pending'), { timeoutMs: 60_000, intervalMs: 200, what: 'every row settled' });
    // A poll failing with such an answer: the pass fails, and graphile-worker logs the failure too.
    setup.signalwire.faults.script.push(quoting(500, 30008));
    expect((await setup.cli('backfill', String(setup.sw.id))).code).toBe(0);
    await waitFor(() => setup.engine.db.selectFrom('backfill_runs').select('id').where('integration_id', '=', setup.sw.id).where('status', '=', 'failed').executeTakeFirst(), {
      timeoutMs: 30_000,
      what: 'the failed poll',
    });
    expect(await worker.stop('SIGTERM')).toBe(0);
    const lines = logLines(worker.output());
    expect(lines.some((l) => l.msg === 'delivery will be retried')).toBe(true);
    expect(lines.some((l) => l.msg === 'backfill pass failed')).toBe(true);
    expect(leaks(lines, [client, '+15550005555', SUPPORT], ['secret inbound text', 'private reply', 'refused reply'])).toEqual([]);
  });
});
