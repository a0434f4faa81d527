/**
 * Hostile input at every endpoint (fast-check, seeded): malformed and mistyped JSON and
 * forms, NUL bytes, lone surrogates, wrong content types, signed garbage. Never a 5xx,
 * always a JSON error for a 4xx, the server stays up, and what is accepted is stored
 * intact (less NUL, which Postgres text cannot hold, and lone surrogates, made U+FFFD).
 */
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signFrontRequest } from '../../src/simulators/front.ts';
import { signSignalWireRequest } from '../../src/simulators/signalwire.ts';
import { signWhatsAppPayload, startWhatsAppSimulator, type WhatsAppSimulator } from '../../src/simulators/whatsapp.ts';
import { GATEWAYS } from '../../src/ussd/types.ts';
import { CHANNEL_ID, setUpChannel, type ChannelSetup } from '../helpers/channel.ts';
import { useTestDatabase } from '../helpers/database.ts';

const database = useTestDatabase();
let setup: ChannelSetup;
let whatsapp: WhatsAppSimulator;
let whatsappHook: string;
/** The Front WhatsApp channel's API key (the channel depends on the fuzzed WhatsApp integration, so its webhooks reach it too). */
let whatsappChannelKey: string;
const RUNS = Number(process.env.FUZZ_RUNS ?? 60);

beforeAll(async () => {
  setup = await setUpChannel(database(), {}, { ussd: true });
  await setup.frontClient.authorize(CHANNEL_ID);
  whatsapp = await startWhatsAppSimulator();
  const run = await setup.cli('integrations', 'create', 'whatsapp_message_v1', '--phone-number-id', whatsapp.phoneNumberId, '--access-token', whatsapp.accessToken, '--app-secret', whatsapp.appSecret, '--verify-token', 'fuzz-verify-token', '--api-url', whatsapp.url, '--json');
  whatsappHook = run.json().webhook_url;
  const channel = await setup.cli('integrations', 'create', 'front_whatsapp_channel_app_v1', '--depends-on', String(run.json().id), '--reengage-template', 'new_message:en', '--json');
  whatsappChannelKey = channel.json().api_key;
});
afterAll(async () => {
  await setup.close();
  await whatsapp?.close();
});

const nasty = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', '\u0000', 'a\u0000b', '\ud83d', '\udc00x', '%00', '+15550001111', '*384*1#', '0', '#', 'null', '[]', '{}'),
);
const jsonValue = fc.jsonValue({ maxDepth: 3 });
const record = fc.dictionary(fc.oneof(fc.constantFrom('type', 'payload', 'MessageSid', 'From', 'To', 'text', 'sessionId', 'phoneNumber', 'MSISDN', 'USERDATA', 'MSGTYPE', 'USERID', 'Type', 'Mobile', 'SessionId', 'Sequence', 'msisdn', 'msg', 'sessionID', 'userID', 'newSession', 'userData', 'Message', 'command', 'session_id', 'operator', 'ussdString', 'inputOption', 'menuId'), nasty), fc.oneof(nasty, jsonValue), { maxKeys: 8 });
const contentType = fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain', 'application/json; charset=utf-8', '');

async function expectSane(response: Response) {
  expect(response.status).toBeLessThan(500);
  if (response.status >= 400) {
    expect(response.headers.get('content-type')).toMatch(/application\/json/);
    expect(((await response.json()) as { error?: { code?: string } }).error?.code).toMatch(/^SB_ERR_/);
  } else {
    await response.arrayBuffer();
  }
}

const text = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));
const encode = (type: string, body: Record<string, unknown>) =>
  type.includes('form') ? new URLSearchParams(Object.entries(body).map(([k, v]) => [k, text(v)] as [string, string])).toString() : JSON.stringify(body);
/** Every byte percent-encoded: any string, even one with lone surrogates or NUL, makes a valid URL. */
const pathPart = (value: string) => [...Buffer.from(value, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

describe('hostile input', () => {
  it('SignalWire webhooks, signed or not', async () => {
    const hook = `${setup.publicUrl}/v1/service_integrations/${setup.sw.opaque_id}`;
    await fc.assert(
      fc.asyncProperty(record, fc.boolean(), contentType, async (fields, sign, type) => {
        const params = Object.entries(fields).map(([k, v]) => [k, text(v)] as [string, string]);
        const headers: Record<string, string> = { 'content-type': type || 'application/x-www-form-urlencoded' };
        if (sign) headers['x-signalwire-signature'] = signSignalWireRequest(setup.signalwire.signingKey, hook, params);
        await expectSane(await fetch(hook, { method: 'POST', headers, body: new URLSearchParams(params).toString() }));
      }),
      { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? 1) },
    );
  });

  it('WhatsApp webhooks, signed or not, shaped like Meta envelopes or not', async () => {
    const field = fc.oneof(nasty, jsonValue, fc.constantFrom('wamid.A1', 'sent', 'delivered', 'read', 'failed', 'text', '1700000000', '254711000001'));
    const item = fc.oneof(jsonValue, fc.dictionary(fc.constantFrom('id', 'from', 'type', 'timestamp', 'status', 'recipient_id', 'errors', 'text'), fc.oneof(field, fc.array(fc.record({ code: fc.oneof(fc.integer(), fc.double(), nasty), title: field }))), { maxKeys: 7 }));
    const value = fc.record({ metadata: fc.oneof(jsonValue, fc.constant({ phone_number_id: '0' }), fc.constant(null)), messages: fc.oneof(jsonValue, fc.array(item, { maxLength: 3 })), statuses: fc.oneof(jsonValue, fc.array(item, { maxLength: 3 })) }, { requiredKeys: [] });
    const change = fc.record({ field: fc.oneof(fc.constantFrom('messages', 'account_update'), nasty), value: fc.oneof(jsonValue, value) });
    const envelope = fc.record({ object: fc.oneof(fc.constant('whatsapp_business_account'), nasty), entry: fc.oneof(jsonValue, fc.array(fc.record({ id: nasty, changes: fc.oneof(jsonValue, fc.array(change, { maxLength: 3 })) }), { maxLength: 2 })) });
    await fc.assert(
      fc.asyncProperty(fc.oneof(envelope, record, jsonValue), fc.boolean(), fc.boolean(), contentType, async (body, sign, ours, type) => {
        const raw = JSON.stringify(body);
        // Half the envelopes name our phone number, so they get past the routing check.
        const text = ours ? raw.replaceAll('"phone_number_id":"0"', `"phone_number_id":"${whatsapp.phoneNumberId}"`) : raw;
        const headers: Record<string, string> = { 'content-type': type || 'application/json' };
        if (sign) headers['x-hub-signature-256'] = signWhatsAppPayload(whatsapp.appSecret, text);
        await expectSane(await fetch(whatsappHook, { method: 'POST', headers, body: text }));
      }),
      { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? 6) },
    );
  });

  it('WhatsApp subscription handshakes with any query', async () => {
    const query = fc.dictionary(fc.oneof(fc.constantFrom('hub.mode', 'hub.verify_token', 'hub.challenge'), nasty), fc.oneof(nasty, fc.constantFrom('subscribe', 'fuzz-verify-token')), { maxKeys: 4 });
    await fc.assert(
      fc.asyncProperty(query, async (params) => {
        const search = Object.entries(params).map(([k, v]) => `${pathPart(k)}=${pathPart(v)}`).join('&');
        const response = await fetch(`${whatsappHook}?${search}`);
        expect(response.status).toBeLessThan(500);
        // A 200 is only ever the challenge, for the right token.
        if (response.status === 200) expect([params['hub.verify_token'], await response.text()]).toEqual(['fuzz-verify-token', params['hub.challenge']]);
        else await expectSane(response);
      }),
      { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? 7) },
    );
  });

  it.each([
    ['front_ussd', () => setup.apiKey],
    ['front_whatsapp', () => whatsappChannelKey],
  ])('Front channel requests to %s, correctly signed, with any body', async (app, apiKey) => {
    const url = `${setup.publicUrl}/v1/install/${app}/channel`;
    await fc.assert(
      fc.asyncProperty(fc.oneof(record, fc.record({ type: fc.constantFrom('message', 'message_autoreply', 'authorization', 'delete', 'message_imported'), payload: fc.oneof(record, jsonValue) })), fc.constantFrom('POST', 'DELETE'), async (body, method) => {
        const raw = JSON.stringify(body);
        const ts = String(Date.now());
        const response = await fetch(url, {
          method,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey()}`, 'x-front-request-timestamp': ts, 'x-front-signature': signFrontRequest(setup.front.appSecret, ts, raw) },
          body: raw,
        });
        // A fuzzed `delete` really deletes: put the channel back for the next case.
        if (response.status === 200 && (body as { type?: string }).type === 'delete') return;
        await expectSane(response);
      }),
      { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? 2) },
    );
  });

  it('USSD callbacks of every gateway, in its own shape with hostile values', async () => {
    // Valid-looking envelopes reach the parsers' later checks (and the hop) that random records rarely do.
    const shaped = fc.record({ id: nasty, phone: fc.oneof(nasty, fc.constant('+233241234567')), value: fc.oneof(nasty, jsonValue), initial: fc.boolean() });
    const LATER = ['emergent', 'crossswitch', 'beem', 'southpawsl'] as const;
    const envelope = (gateway: (typeof LATER)[number], f: { id: string; phone: string; value: unknown; initial: boolean }): Record<string, unknown> => {
      switch (gateway) {
        case 'emergent':
        case 'crossswitch':
          return { Type: f.initial ? 'Initiation' : 'Response', Mobile: f.phone, SessionId: f.id, ServiceCode: '714', Message: f.value, Operator: 'MTN' };
        case 'beem':
          return { command: f.initial ? 'initiate' : 'continue', msisdn: f.phone, session_id: f.id, operator: 'vodacom', payload: { request_id: f.value, response: f.value } };
        case 'southpawsl':
          return { sessionId: f.id, msisdn: f.phone, menuId: 'm', ussdString: '*714#', inputOption: f.initial ? '*714#' : f.value, network: 'MTN' };
      }
    };
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...LATER), shaped, async (gateway, fields) => {
        const response = await fetch(`${setup.publicUrl}/v1/ussd/${gateway}/${setup.ussd!.opaque_id}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(envelope(gateway, fields)),
        });
        await expectSane(response);
      }),
      { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? 7) },
    );
  });

  it('USSD callbacks of every gateway', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...GATEWAYS), record, contentType, async (gateway, fields, type) => {
        const response = await fetch(`${setup.publicUrl}/v1/ussd/${gateway}/${setup.ussd!.opaque_id}`, {
          method: 'POST',
          headers: { 'content-type': type || 'application/json' },
          body: encode(type, fields),
        });
        await expectSane(response);
      }),
      { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? 3) },
    );
  });

  it('accepted messages are stored intact', async () => {
    const hook = `${setup.publicUrl}/v1/service_integrations/${setup.sw.opaque_id}`;
    const storable = (value: string) => value.toWellFormed().replaceAll('\u0000', '');
    let accepted = 0;
    let case_ = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 }), nasty), async (body) => {
        const sid = `SM${String(case_++).padStart(32, '0')}`;
        const params: [string, string][] = [['MessageSid', sid], ['AccountSid', setup.signalwire.projectId], ['From', '+15550009999'], ['To', '+15550001111'], ['Body', body], ['SmsStatus', 'received']];
        const response = await fetch(hook, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-signalwire-signature': signSignalWireRequest(setup.signalwire.signingKey, hook, params) },
          body: new URLSearchParams(params).toString(),
        });
        await expectSane(response);
        if (response.status !== 200) return;
        accepted++;
        const { rows } = await sql<{ raw: string | null; body: string | null }>`
          SELECT data->'webhook_params'->>'Body' AS raw, data->>'body' AS body FROM signalwire_message_v1 WHERE signalwire_id = ${sid}`.execute(database().db);
        expect(rows).toEqual([{ raw: storable(body), body: storable(body) }]);
      }),
      { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? 5) },
    );
    // Only bodies the form encoding cannot carry (lone surrogates) fail their signature.
    expect(accepted).toBeGreaterThan(RUNS / 2);
  });

  it('the chatbot-facing API, with a valid token, and Front application events, signed, with any body', async () => {
    const created = (await setup.cli('integrations', 'create', 'chatbot_handoff_v1', '--rapidpro-url', 'http://127.0.0.1:9', '--rapidpro-token', 'fuzz', '--json')).json();
    const tokenAnswer = await fetch(`${created.api_base_url}token/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: created.username, password: created.password }) });
    const { token } = (await tokenAnswer.json()) as { token: string };
    const chatField = fc.oneof(nasty, jsonValue, fc.integer(), fc.constantFrom('s-1', 'delivered', 'read', 'failed', 'm-1', 'WENI'));
    const chatBody = fc.dictionary(fc.constantFrom('chat_session', 'chat_message', 'chat_sender', 'chat_receiver', 'chat_source', 'message_id', 'contact', 'pseudonym', 'status', 'username', 'password'), chatField, { maxKeys: 9 });
    const path = fc.oneof(fc.constantFrom('chat/', 'token/', 'chat/s-1/close/', 'chat/s-1/ack/'), nasty.map((session) => `chat/${pathPart(session)}/${session.length % 2 ? 'close' : 'ack'}/`));
    await fc.assert(
      fc.asyncProperty(path, fc.oneof(chatBody, record, jsonValue), contentType, fc.constantFrom('POST', 'GET'), async (route, body, type, method) => {
        const response = await fetch(`${created.api_base_url}${route}`, {
          method,
          headers: { 'content-type': type || 'application/json', authorization: `Token ${token}` },
          body: method === 'GET' ? undefined : type.includes('form') ? encode(type, body as Record<string, unknown>) : JSON.stringify(body),
        });
        await expectSane(response);
      }),
      { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? 8) },
    );
    const events = `${setup.publicUrl}/v1/install/front_chatbot/events`;
    const event = fc.record({ type: fc.oneof(fc.constantFrom('archive', 'reopen', 'sync'), nasty), payload: fc.oneof(jsonValue, fc.record({ conversation: fc.oneof(jsonValue, fc.record({ id: nasty, recipient: fc.oneof(jsonValue, fc.record({ handle: fc.oneof(nasty, fc.constant('s-1#1')) })) })) })) });
    await fc.assert(
      fc.asyncProperty(fc.oneof(event, record, jsonValue), async (body) => {
        const raw = JSON.stringify(body);
        const ts = String(Date.now());
        const response = await fetch(events, { method: 'POST', headers: { 'content-type': 'application/json', 'x-front-request-timestamp': ts, 'x-front-signature': signFrontRequest(setup.front.appSecret, ts, raw) }, body: raw });
        await expectSane(response);
      }),
      { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? 9) },
    );
  });

  it('random paths, methods and ids', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'), fc.constantFrom('/v1/service_integrations/', '/v1/ussd/nalo/', '/v1/media/', '/v1/install/front_signalwire/', '/v1/install/front_whatsapp/', '/v1/chatbot/', '/v1/install/front_chatbot/'), nasty, async (method, prefix, id) => {
        const response = await fetch(`${setup.publicUrl}${prefix}${pathPart(id)}`, { method, headers: { 'content-type': 'application/json' }, body: method === 'GET' ? undefined : '{' });
        await expectSane(response);
      }),
      { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? 4) },
    );
    expect((await fetch(`${setup.publicUrl}/healthz`)).status).toBe(200);
  });
});
