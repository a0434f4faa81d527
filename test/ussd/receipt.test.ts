/**
 * Never "received" without a commit (issue 16 defects 1–3): a hop held up past its budget
 * or failing is answered with a receipt only once its request is committed, then retried
 * until it reaches Front or is visibly failed; NUL and lone surrogates do not lose a
 * message; what the caller is told about replies matches their SMS consent.
 */
import { sql } from 'kysely';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { integrationStatus } from '../../src/engine/status.ts';
import { dial, gatewayRequest } from '../../src/simulators/ussd.ts';
import { MAX_HOP_ATTEMPTS, receiptText } from '../../src/replicators/ussd-request-v1/hop.ts';
import type { ChannelSetup } from '../helpers/channel.ts';
import { useChannel } from '../helpers/use-channel.ts';
import { waitFor } from '../helpers/wait.ts';

const channel = useChannel({ ussd: true, env: { DEFAULT_PHONE_REGION: 'GH' } });
const database = channel.database;
let setup: ChannelSetup;
const CALLER = '+233241234567';

beforeAll(() => {
  setup = channel.setup();
});
beforeEach(async () => {
  await sql`TRUNCATE ussd_request_v1, ussd_sessions, front_ussd_channel_app_v1`.execute(setup.engine.db);
  await sql`UPDATE service_integrations SET settings = settings - 'budget_ms' WHERE id = ${setup.ussd!.id}`.execute(setup.engine.db);
});

/** A short answer budget, set after the dial so that a loaded machine cannot end the session early. */
const setBudget = (ms: number) =>
  sql`UPDATE service_integrations SET settings = settings || jsonb_build_object('budget_ms', ${String(ms)}::text) WHERE id = ${setup.ussd!.id}`.execute(setup.engine.db);
const url = (gateway: string) => `${setup.publicUrl}/v1/ussd/${gateway}/${setup.ussd!.opaque_id}`;
const hops = async () => (await sql<Record<string, any>>`SELECT * FROM ussd_request_v1 ORDER BY pk`.execute(setup.engine.db)).rows;
const ussdStatus = async () => integrationStatus(setup.engine, await setup.reload(setup.ussd!), { reasons: 3 });
const post = (gateway: string, request: { contentType: string; body: string }) =>
  fetch(url(gateway), { method: 'POST', headers: { 'content-type': request.contentType }, body: request.body });

/** Holds every USSD session row, as a slow hop of the same session would. */
async function holdSessions() {
  const holder = await database().pool.connect();
  await holder.query('BEGIN');
  await holder.query('SELECT 1 FROM ussd_sessions FOR UPDATE');
  return async () => {
    await holder.query('COMMIT');
    holder.release();
  };
}

describe('a hop answered before its work is done', () => {
  it('commits the typed message before saying "received", retries it after a lock timeout, and it reaches Front', async () => {
    const { session } = await dial(url('africastalking'), { gateway: 'africastalking', msisdn: CALLER });
    await session.send('1');
    await setBudget(150);
    const release = await holdSessions();
    const late = await session.send('please help me');
    expect(late.screen).toEqual({ text: receiptText(false, true), end: true });
    // Already committed when the caller read "received": the raw request and the typed text.
    const [, , held] = await hops();
    expect(held).toMatchObject({ processed_at: null, raw_body: expect.stringContaining('please+help+me'), turn: expect.objectContaining({ input: 'please help me' }) });
    // Its first processing gives up on the held session (lock timeout): still there, pending.
    await waitFor(async () => (await hops())[2]?.attempts === 1, { what: 'the failed attempt to be counted' });
    expect((await hops())[2]).toMatchObject({ processed_at: null, failed_at: null, last_error: expect.stringMatching(/lock timeout/) });
    expect(await ussdStatus()).toMatchObject({ pending: 1, failed: 0 });
    await release();

    await sql`UPDATE ussd_request_v1 SET row_created_at = now() - interval '1 minute'`.execute(setup.engine.db);
    expect(await setup.pass(setup.ussd!)).toMatchObject({ status: 'succeeded' });
    expect((await hops())[2]).toMatchObject({ processed_at: expect.any(Date), response_body: `END ${receiptText(false, true)}` });
    expect(await ussdStatus()).toMatchObject({ pending: 0, failed: 0 });
    expect((await setup.rows()).map((r) => [r.direction, r.body, r.sender])).toEqual([['inbound', 'please help me', CALLER]]);
    await setup.pass(setup.channel);
    expect(setup.front.inbox.filter((m) => m.senderHandle === CALLER).map((m) => m.body)).toEqual(['please help me']);
  });

  it('a hop that keeps failing is marked failed, with its reason, in status', async () => {
    const { session } = await dial(url('nalo'), { gateway: 'nalo', msisdn: CALLER });
    await session.send('1');
    await setBudget(150);
    const release = await holdSessions();
    await session.send('are you there');
    await waitFor(async () => (await hops())[2]?.attempts === 1, { what: 'the failed attempt' });
    await sql`UPDATE ussd_request_v1 SET attempts = ${MAX_HOP_ATTEMPTS - 1}, row_created_at = now() - interval '1 minute' WHERE processed_at IS NULL`.execute(setup.engine.db);
    expect(await setup.pass(setup.ussd!)).toMatchObject({ status: 'failed' });
    await release();
    expect((await hops())[2]).toMatchObject({ failed_at: expect.any(Date), processed_at: null });
    const status = await ussdStatus();
    expect(status).toMatchObject({ pending: 0, failed: 1 });
    expect(status.failure_reasons[0]!.reason).toMatch(/^not processed after 10 attempts: .*lock timeout/);
  });
});

describe('characters Postgres cannot store', () => {
  it('NUL (Nalo JSON \\u0000, Africa\'s Talking %00) and lone surrogates are cleaned and the message kept', async () => {
    const nalo = await dial(url('nalo'), { gateway: 'nalo', msisdn: CALLER });
    await nalo.session.send('1');
    const naloBody = JSON.parse(gatewayRequest('nalo', { kind: 'continue', sessionId: nalo.session.sessionId, msisdn: CALLER.slice(1), inputs: ['1', 'x'] }).body) as Record<string, unknown>;
    const raw = JSON.stringify({ ...naloBody, USERDATA: 'help\u0000 me' }).replace('help\\u0000 me', 'help\\u0000 me \\ud800now');
    const answer = await fetch(url('nalo'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw });
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { MSG: string }).MSG).toContain('May a counsellor reply by SMS?');

    const at = await dial(url('africastalking'), { gateway: 'africastalking', msisdn: '+233241230000' });
    await at.session.send('1');
    const form = gatewayRequest('africastalking', { kind: 'continue', sessionId: at.session.sessionId, msisdn: '+233241230000', inputs: ['1', 'PLACEHOLDER'] });
    const answered = await post('africastalking', { contentType: form.contentType, body: form.body.replace('PLACEHOLDER', 'call%00me') });
    expect(await answered.text()).toMatch(/^CON May a counsellor reply by SMS\?/);

    expect((await setup.rows()).map((r) => r.body).sort()).toEqual(['callme', 'help me \ufffdnow']);
    expect((await hops()).every((h) => h.processed_at !== null && !h.raw_body.includes('\u0000'))).toBe(true);
  });
});

describe('what the caller is told about replies', () => {
  it('the receipt promises SMS only to a caller who agreed to it', async () => {
    const talk = async (msisdn: string, consent: '1' | '2') => {
      const { session } = await dial(url('hubtel'), { gateway: 'hubtel', msisdn });
      await session.send('1');
      await session.send('hello');
      return (await session.send(consent)).screen.text;
    };
    expect(await talk(CALLER, '1')).toMatch(/reply by SMS/);
    expect(await talk('+233241230001', '2')).not.toMatch(/SMS/);

    const late = async (msisdn: string) => {
      await sql`UPDATE service_integrations SET settings = settings - 'budget_ms' WHERE id = ${setup.ussd!.id}`.execute(setup.engine.db);
      const { session } = await dial(url('hubtel'), { gateway: 'hubtel', msisdn });
      await setBudget(150);
      const release = await holdSessions();
      const screen = (await session.send('1')).screen;
      await release();
      return screen;
    };
    expect(await late(CALLER)).toEqual({ text: receiptText(true, true), end: true });
    expect(await late('+233241230001')).toEqual({ text: receiptText(false, true), end: true });
    expect(receiptText(false, true)).not.toMatch(/SMS/);
    expect(receiptText(false, false)).toBe('Thank you, your message was received.');
  });
});
