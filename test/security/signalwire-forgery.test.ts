/**
 * Issue 13 item 6: a stored SignalWire signature cannot be used to forge a new message.
 * SignalWire signs names and values run together, so a signed request can be re-cut at
 * another boundary; message ids have a fixed shape and the field set is SignalWire's, so a
 * re-cut request is refused (after its signature passed), and the log keeps no signature.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { signSignalWireRequest } from '../../src/simulators/signalwire.ts';
import { setUpChannel, SUPPORT, CUSTOMER, type ChannelSetup } from '../helpers/channel.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { waitFor } from '../helpers/wait.ts';

const database = useTestDatabase();
let setup: ChannelSetup;

beforeEach(async () => {
  setup = await setUpChannel(database());
});
afterEach(() => setup.close());

const hookUrl = () => `${setup.publicUrl}/v1/service_integrations/${setup.sw.opaque_id}`;
const post = (params: [string, string][], signature: string) =>
  fetch(hookUrl(), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-signalwire-signature': signature }, body: new URLSearchParams(params).toString() });
const stored = async () =>
  (await sql<{ signalwire_id: string }>`SELECT signalwire_id FROM signalwire_message_v1 ORDER BY pk`.execute(setup.engine.db)).rows.map((r) => r.signalwire_id);

describe('SignalWire webhooks re-cut under a logged signature', () => {
  it('are refused with 422 and store nothing; the log keeps no signature', async () => {
    const sid = `SM${randomBytes(16).toString('hex')}`;
    const genuine: [string, string][] = [
      ['AccountSid', setup.signalwire.projectId],
      ['From', CUSTOMER],
      ['To', SUPPORT],
      ['Body', 'hello'],
      ['MessageSid', sid],
      ['SmsStatus', 'received'],
    ];
    const signature = signSignalWireRequest(setup.signalwire.signingKey, hookUrl(), genuine);
    expect((await post(genuine, signature)).status).toBe(200);

    // The reproduction: "MessageSid" "SM…" "SmsStatus" "received" re-cut as "MessageSid" "SM…Sms" "Status" "received".
    const recut: [string, string][] = [...genuine.slice(0, 4), ['MessageSid', `${sid}Sms`], ['Status', 'received']];
    expect(signSignalWireRequest(setup.signalwire.signingKey, hookUrl(), recut)).toBe(signature);
    const forged = await post(recut, signature);
    expect(forged.status).toBe(422);
    expect(await forged.json()).toMatchObject({ error: { code: 'SB_ERR_INVALID_PAYLOAD' } });

    // A re-cut that keeps every name SignalWire uses still cannot make a new id.
    const withoutStatus: [string, string][] = [...genuine.slice(0, 4), ['MessageSid', `${sid}SmsStatusreceived`]];
    expect((await post(withoutStatus, signature)).status).toBe(422);
    expect(await stored()).toEqual([sid]);

    await waitFor(async () => (await sql`SELECT 1 FROM webhook_log`.execute(setup.engine.db)).rows.length === 3, { what: 'the webhook log' });
    const { rows } = await sql<{ signature: string | null }>`SELECT headers->>'x-signalwire-signature' AS signature FROM webhook_log`.execute(setup.engine.db);
    expect(rows.map((r) => r.signature)).toEqual(['(redacted)', '(redacted)', '(redacted)']);
  });

  it.each([
    ['an id of another shape', [['MessageSid', 'SM0001']]],
    ['ids that disagree', [['MessageSid', `SM${'a'.repeat(32)}`], ['SmsSid', `SM${'b'.repeat(32)}`]]],
    ['a repeated parameter', [['MessageSid', `SM${'a'.repeat(32)}`], ['MessageSid', `SM${'b'.repeat(32)}`]]],
    ['an unknown status', [['MessageSid', `SM${'a'.repeat(32)}`], ['SmsStatus', 'receivedTo']]],
    ['a count that is not a number', [['MessageSid', `SM${'a'.repeat(32)}`], ['NumMedia', '0From']]],
  ] as const)('refuses %s, signed, before storing', async (_what, extra) => {
    const params: [string, string][] = [['From', CUSTOMER], ['To', SUPPORT], ['Body', 'hi'], ...extra.map(([k, v]) => [k, v] as [string, string])];
    const response = await post(params, signSignalWireRequest(setup.signalwire.signingKey, hookUrl(), params));
    expect(response.status).toBe(422);
    expect(await stored()).toEqual([]);
  });

  it("accepts SignalWire's own ids (UUIDs) and Twilio-style MM ids", async () => {
    const { message, status } = await setup.signalwire.receiveInbound({ from: CUSTOMER, to: SUPPORT, body: 'hello' }, hookUrl());
    expect(status).toBe(200);
    const mms: [string, string][] = [['MessageSid', `MM${'c'.repeat(32)}`], ['From', CUSTOMER], ['To', SUPPORT], ['Body', ''], ['NumMedia', '1'], ['MediaUrl0', 'https://example.org/m'], ['MediaContentType0', 'image/png']];
    expect((await post(mms, signSignalWireRequest(setup.signalwire.signingKey, hookUrl(), mms))).status).toBe(200);
    expect(await stored()).toEqual([message.sid, `MM${'c'.repeat(32)}`]);
  });
});
