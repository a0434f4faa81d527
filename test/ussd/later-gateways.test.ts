/**
 * Emergent, Beem, Southpawsl and Cross-switch end to end: the simulator posts each gateway's
 * own requests to a real USSD integration over HTTP; the rows and sessions it leaves, and the
 * answers in each wire format, are what is checked.
 */
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { dial, gatewayRequest } from '../../src/simulators/ussd.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { useUssdServer } from '../helpers/ussd-server.ts';

const server = useUssdServer(useTestDatabase());
const CALLERS = { emergent: '233241234567', crossswitch: '233201234567', southpawsl: '233501234567', beem: '255712345678' } as const;

const url = (gateway: string) => `${server().base}/v1/ussd/${gateway}/${server().ussd.opaque_id}`;
const hops = () => server().hops();
const sessions = async () => (await sql<Record<string, any>>`SELECT * FROM ussd_sessions ORDER BY created_at`.execute(server().engine.db)).rows;
/** Waits for the hop's answer to be written back (it is filled in after it is sent). */
async function settled(count: number) {
  for (let i = 0; i < 50; i++) {
    const rows = await hops();
    if (rows.length === count && rows.every((h) => h.response_status !== null)) return rows;
    await new Promise((r) => setTimeout(r, 20));
  }
  return hops();
}

describe.each(Object.keys(CALLERS) as (keyof typeof CALLERS)[])('%s through a real USSD integration', (gateway) => {
  it('menu → message → consent → END: every hop stored with its answer, the session closed, the message submitted', async () => {
    const { session, first } = await dial(url(gateway), { gateway, msisdn: CALLERS[gateway] });
    expect(first.status).toBe(200);
    expect(first.screen.end).toBe(false);
    expect(first.screen.text).toContain('1. Talk to a counsellor');
    expect((await session.send('1')).screen.text).toContain('Type your message');
    expect((await session.send('I need help * now')).screen.text).toContain('May a counsellor reply by SMS?');
    const done = await session.send('2');
    expect(done.screen.end).toBe(true);

    const stored = await settled(4);
    expect(stored.map((h) => [h.gateway, h.kind, h.response_status])).toEqual([
      [gateway, 'initial', 200],
      [gateway, 'continue', 200],
      [gateway, 'continue', 200],
      [gateway, 'continue', 200],
    ]);
    // What went back is exactly what the gateway read.
    expect(stored.map((h) => h.response_body)).toEqual(session.hops.map((h) => h.body));
    expect(stored.at(-1)!.data.actions).toEqual([{ type: 'submit_message', data: { message: 'I need help * now', sms_consent: false } }]);
    const [row] = await sessions();
    expect(row).toMatchObject({ status: 'closed', close_reason: 'completed', hops: 4 });
    expect(row!.id).toMatch(new RegExp(`^helpline:ussd:${gateway}:[0-9a-f]{32}$`));
    expect(JSON.stringify(row)).not.toContain(CALLERS[gateway].slice(-9));
  });

  it('the same request posted again at once is answered identically and processed once', async () => {
    const { session } = await dial(url(gateway), { gateway, msisdn: CALLERS[gateway] });
    const answer = await session.send('1');
    const again = await fetch(url(gateway), { method: 'POST', headers: { 'content-type': answer.request.contentType }, body: answer.request.body });
    expect(again.status).toBe(200);
    expect(await again.text()).toBe(answer.body);
    // Every request is kept; the repeat points at the first.
    const stored = await settled(3);
    expect(stored.map((h) => h.replay_of)).toEqual([null, null, stored[1]!.pk]);
  });
});

describe('the later gateways’ own rules', () => {
  it('Beem: terminate closes the session as released and runs no flow', async () => {
    const { session } = await dial(url('beem'), { gateway: 'beem', msisdn: CALLERS.beem });
    await session.release();
    await settled(2);
    expect(await sessions()).toMatchObject([{ status: 'closed', close_reason: 'released', hops: 2 }]);
    expect((await hops()).map((h) => h.kind)).toEqual(['initial', 'release']);
  });

  it('Southpawsl: a pinned service code refuses another ussdString (401) and nothing is stored', async () => {
    await sql`UPDATE service_integrations SET settings = settings || '{"service_code":"*714*5#"}' WHERE id = ${server().ussd.id}`.execute(server().engine.db);
    const other = gatewayRequest('southpawsl', { kind: 'initial', sessionId: 'sp-x', msisdn: CALLERS.southpawsl, inputs: [], serviceCode: '*714*6#' });
    const refused = await fetch(url('southpawsl'), { method: 'POST', headers: { 'content-type': other.contentType }, body: other.body });
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('SB_ERR_UNAUTHORIZED');
    const { first } = await dial(url('southpawsl'), { gateway: 'southpawsl', msisdn: CALLERS.southpawsl, serviceCode: '*714*5#' });
    expect(first.status).toBe(200);
    expect(await settled(1)).toHaveLength(1);
  });

  it('Emergent: a body in another gateway’s format is a 422 with a JSON error, and nothing is stored', async () => {
    const nalo = gatewayRequest('nalo', { kind: 'initial', sessionId: 'n1', msisdn: CALLERS.emergent, inputs: [] });
    const response = await fetch(url('emergent'), { method: 'POST', headers: { 'content-type': nalo.contentType }, body: nalo.body });
    expect(response.status).toBe(422);
    expect(((await response.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'SB_ERR_INVALID_PAYLOAD', message: expect.stringMatching(/Emergent Type/) });
    expect(await hops()).toEqual([]);
  });
});
