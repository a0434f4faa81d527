/**
 * Front imports whose answer never came (issue 13's duplicate window): Front accepted the
 * import, the answer was lost. The row is held; Front's `message_imported` notice (which
 * carries our external id back) settles it without a second import. Only when no notice
 * comes within SWITCHBOARD_FRONT_IMPORT_HOLD_S is the message imported again.
 */
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { CHANNEL_ID, CUSTOMER, setUpChannel, SUPPORT, type ChannelSetup } from '../helpers/channel.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { waitFor } from '../helpers/wait.ts';

const database = useTestDatabase();
let setup: ChannelSetup;

async function connected() {
  setup = await setUpChannel(database());
  await setup.frontClient.authorize(CHANNEL_ID);
  setup.channel = await setup.reload(setup.channel);
  return setup;
}
afterEach(() => setup.close());

const hookUrl = () => `${setup.publicUrl}/v1/service_integrations/${setup.sw.opaque_id}`;
const smsIn = (body: string) => setup.signalwire.receiveInbound({ from: CUSTOMER, to: SUPPORT, body }, hookUrl());
const table = sql.table('front_signalwire_message_channel_app_v1');
/** Make rows that are backing off due now, instead of waiting for their delay. */
const dueNow = () => sql`UPDATE ${table} SET next_attempt_at = now()`.execute(database().db);
/** An SMS whose import Front takes but whose answer is lost; `notices: false` loses Front's notice too. */
async function lostImport(body: string, { notices = true } = {}) {
  await connected();
  setup.front.noticeImports = notices;
  setup.front.faults.script.push({ kind: 'lost-response' });
  const { message } = await smsIn(body);
  await setup.pass(setup.channel);
  return message;
}
const answered = () => waitFor(() => setup.front.notices.length > 0 && setup.front.notices.every((n) => n.status !== null), { what: 'the message_imported notice' });

describe('an import whose answer was lost', () => {
  it('is settled by Front\'s message_imported notice, never imported twice', async () => {
    const message = await lostImport('did Front get this?');
    expect(setup.front.inbox).toHaveLength(1);
    await answered();
    expect(setup.front.notices).toEqual([{ externalId: message.sid, status: 200 }]);
    await dueNow();
    await setup.pass(setup.channel);
    await setup.pass(setup.channel);
    expect(setup.front.inbox).toHaveLength(1);
    const [row] = await setup.rows();
    expect(row).toMatchObject({ delivery_status: 'delivered', import_external_id: message.sid });
    expect(row!.front_message_id).toMatch(/^msg_/);
    expect(row!.front_message_id).toBe(row!.front_imported_id);
  });

  it('is held while no notice came: passes import nothing, and the notice, when it comes, settles it', async () => {
    await lostImport('held', { notices: false });
    await dueNow();
    await setup.pass(setup.channel);
    expect(setup.front.inbox).toHaveLength(1);
    const [held] = await setup.rows();
    expect(held).toMatchObject({ delivery_status: 'pending', front_message_id: null });
    // The next attempt waits for the hold (120 s by default) to run out.
    const hold = (held!.next_attempt_at.getTime() - held!.import_started_at.getTime()) / 1000;
    expect(hold).toBeCloseTo(120, 0);

    const notice = await setup.frontClient.imported(setup.front.inbox[0]!, { id: 'msg_late' });
    expect(notice.status).toBe(200);
    expect((await setup.rows())[0]).toMatchObject({ front_imported_id: 'msg_late', next_attempt_at: null });
    await setup.pass(setup.channel);
    expect(setup.front.inbox).toHaveLength(1);
    expect((await setup.rows())[0]).toMatchObject({ delivery_status: 'delivered', front_message_id: 'msg_late' });
  });

  it('is imported again when the hold runs out without a notice (the window that remains)', async () => {
    await lostImport('no notice ever', { notices: false });
    // Simulated time: the hold has run out.
    await sql`UPDATE ${table} SET import_started_at = now() - interval '121 seconds', next_attempt_at = now()`.execute(database().db);
    await setup.pass(setup.channel);
    expect(setup.front.inbox.map((m) => m.body)).toEqual(['no notice ever', 'no notice ever']);
    expect((await setup.rows())[0]).toMatchObject({ delivery_status: 'delivered', front_message_id: setup.front.inbox[1]!.messageUid });
  });
});

describe('an import Front answered', () => {
  it.each([
    ['429', { kind: 'status' as const, status: 429, headers: { 'retry-after': '1' }, body: { _error: { status: 429 } } }],
    ['503', { kind: 'status' as const, status: 503, body: { _error: { status: 503 } } }],
  ])('with %s is not held: Front did not take it, the next attempt imports at once', async (_status, fault) => {
    await connected();
    setup.front.faults.script.push(fault);
    await smsIn('refused first');
    await setup.pass(setup.channel);
    expect(setup.front.inbox).toHaveLength(0);
    expect((await setup.rows())[0]).toMatchObject({ delivery_status: 'pending', import_started_at: null });
    await dueNow();
    await setup.pass(setup.channel);
    expect(setup.front.inbox.map((m) => m.body)).toEqual(['refused first']);
    expect((await setup.rows())[0]).toMatchObject({ delivery_status: 'delivered', front_message_id: setup.front.inbox[0]!.messageUid });
  });

  it('keeps the uid of its answer; the notice that follows changes nothing', async () => {
    await connected();
    await smsIn('answered');
    await setup.pass(setup.channel);
    await answered();
    const [row] = await setup.rows();
    expect(row).toMatchObject({ delivery_status: 'delivered', front_message_id: setup.front.inbox[0]!.messageUid, front_imported_id: null });
  });
});

describe('message_imported notices that match nothing', () => {
  it.each([
    ['an unknown external id', { id: 'msg_x', metadata: { external_id: 'SM_nobody' } }],
    ['no external id', { id: 'msg_x', metadata: {} }],
    ['no message id', { metadata: { external_id: 'SM_nobody' } }],
    ['metadata that is not an object', { id: 'msg_x', metadata: 'x' }],
    ['a payload that is not an object', 'x'],
  ])('with %s: 200 {} and no row changes', async (_case, payload) => {
    await lostImport('waiting', { notices: false });
    const before = await setup.rows();
    const response = await setup.frontClient.raw({ body: { type: 'message_imported', payload } });
    expect([response.status, response.text]).toEqual([200, '{}']);
    expect(await setup.rows()).toEqual(before);
  });
});
