/**
 * `whatsapp_message_v1`: the messages of one WhatsApp Business phone number (Cloud API), one
 * row per WhatsApp message id (wamid), from Meta's webhooks.
 *
 * - `GET` on the webhook URL is Meta's subscription handshake: the right verify token gets
 *   the challenge back, anything else 403.
 * - `POST`s are signed with the app secret (`X-Hub-Signature-256`, over the raw bytes) and
 *   carry batches of inbound messages (stored raw, every type) and status receipts of our
 *   sends. Meta delivers at least once and in any order, so a row's status only moves
 *   forward: sent < failed < delivered < read (a `failed` is overtaken only by proof of
 *   delivery); an earlier status arriving later changes nothing.
 * - `routed_to` says where an inbound message goes: 'front' at once without a flow; with a
 *   flow (`--flow`) NULL, until the integration's pass decides (whatsapp-message-v1/flows.ts).
 * Integration fields: api_url = Graph API base, backfill_key = phone number id,
 * backfill_secret = access token, webhook_secret = app secret; settings verify_token,
 * api_version, flow, handoff_idle.
 */
import { createHmac } from 'node:crypto';
import type { ServiceIntegration } from '../db/schema.ts';
import { invalidPayload } from '../engine/errors.ts';
import { defineReplicator, type Finding, type RowInput } from '../engine/replicator.ts';
import { safeEqual } from '../providers/safe-equal.ts';
import { DEFAULT_GRAPH_URL, DEFAULT_GRAPH_VERSION, WhatsAppClient } from '../providers/whatsapp/client.ts';
import { DEFAULT_HANDOFF_IDLE_MINUTES, FLOW_FIELDS, flowOf, runFlowPass } from './whatsapp-message-v1/flows.ts';

export const WHATSAPP_MESSAGE = 'whatsapp_message_v1';

/** The forward-only order of statuses; unknown ones (Meta may add some) rank lowest. */
const RANKS = new Map([['sent', 1], ['failed', 2], ['delivered', 3], ['read', 4]]);
const rankOf = (status: unknown) => RANKS.get(String(status)) ?? 0;
const rank = (column: string) => `CASE ${column} ${[...RANKS].map(([s, n]) => `WHEN '${s}' THEN ${n}`).join(' ')} ELSE 0 END`;

const WAMID = /^wamid\.[A-Za-z0-9+/=_.-]{1,500}$/;
const WORD = /^[a-z_]{1,40}$/;
const UNIX_SECONDS = /^\d{1,12}$/;
/** A wa_id (digits) or a business-scoped user id (`ZA.1502576394655843`). */
const USER_ID = /^[A-Za-z0-9.+_-]{1,160}$/;
const MAX_ITEMS = 1000;

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

function settingOf(integration: ServiceIntegration, name: string): string | null {
  const value = integration.settings[name];
  return typeof value === 'string' && value !== '' ? value : null;
}

export function whatsAppClient(integration: ServiceIntegration): WhatsAppClient {
  return new WhatsAppClient({
    baseUrl: integration.api_url ?? DEFAULT_GRAPH_URL,
    version: settingOf(integration, 'api_version') ?? DEFAULT_GRAPH_VERSION,
    phoneNumberId: integration.backfill_key ?? '',
    accessToken: integration.backfill_secret ?? '',
  });
}

function list(value: unknown, what: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_ITEMS) throw invalidPayload(`${what} must be an array`);
  return value;
}

function text(item: Record<string, unknown>, key: string, shape: RegExp, what: string, required = true): string | null {
  const value = item[key];
  if (value === undefined && !required) return null;
  if (typeof value !== 'string' || !shape.test(value)) throw invalidPayload(`${what}.${key} is missing or malformed`);
  return value;
}

/** Fits the integer column (a larger "code" would be a 500, not a payload problem). */
const isInt4 = (value: unknown): value is number => Number.isInteger(value) && Math.abs(value as number) <= 2_147_483_647;
const fromUnix = (seconds: string | null) => (seconds === null ? null : new Date(Number(seconds) * 1000));

function inboundRow(message: unknown, value: Record<string, unknown>, metadata: Record<string, unknown>, routedTo: 'front' | null): RowInput {
  if (!isObject(message)) throw invalidPayload('messages[] must hold objects');
  const wamid = text(message, 'id', WAMID, 'message')!;
  const from = text(message, 'from', USER_ID, 'message', false);
  const contacts = list(value.contacts, 'contacts').filter(isObject);
  return {
    key: wamid,
    columns: {
      direction: 'inbound',
      from,
      to: typeof metadata.display_phone_number === 'string' ? metadata.display_phone_number : null,
      type: text(message, 'type', WORD, 'message'),
      status: 'received',
      timestamp: fromUnix(text(message, 'timestamp', UNIX_SECONDS, 'message', false)),
      error_code: null,
      error_title: null,
      // With a flow, the flow pass decides (whatsapp-message-v1/flows.ts); without, it is for the Front channel.
      routed_to: routedTo,
    },
    data: { message, contact: contacts.find((c) => c.wa_id === from) ?? contacts[0] ?? null, metadata },
  };
}

function statusRow(status: unknown, metadata: Record<string, unknown>): RowInput {
  if (!isObject(status)) throw invalidPayload('statuses[] must hold objects');
  const name = text(status, 'status', WORD, 'status')!;
  const errors = list(status.errors, 'status.errors');
  const error = isObject(errors[0]) ? errors[0] : null;
  return {
    key: text(status, 'id', WAMID, 'status')!,
    columns: {
      direction: 'outbound',
      from: typeof metadata.display_phone_number === 'string' ? metadata.display_phone_number : null,
      to: text(status, 'recipient_id', USER_ID, 'status', false),
      type: null,
      status: name,
      timestamp: fromUnix(text(status, 'timestamp', UNIX_SECONDS, 'status', false)),
      error_code: isInt4(error?.code) ? error.code : null,
      error_title: typeof error?.title === 'string' ? error.title : null,
    },
    // Keyed by status, so the row keeps each receipt it moved through.
    data: { statuses: { [name]: status }, metadata },
  };
}

/**
 * Rows of one webhook body. Changes for other fields (account updates, templates) and for
 * other phone numbers of the same Meta app are not this integration's: they are skipped.
 */
function webhookRows(body: unknown, phoneNumberId: string | null, routedTo: 'front' | null): RowInput[] {
  if (!isObject(body) || body.object !== 'whatsapp_business_account') throw invalidPayload('expected a whatsapp_business_account webhook');
  const rows: RowInput[] = [];
  for (const entry of list(body.entry, 'entry')) {
    if (!isObject(entry)) throw invalidPayload('entry[] must hold objects');
    for (const change of list(entry.changes, 'entry.changes')) {
      if (!isObject(change) || typeof change.field !== 'string') throw invalidPayload('changes[] must hold objects with a field');
      if (change.field !== 'messages') continue;
      const value = change.value;
      if (!isObject(value) || !isObject(value.metadata)) throw invalidPayload('a messages change needs value.metadata');
      if (value.metadata.phone_number_id !== phoneNumberId) continue;
      for (const message of list(value.messages, 'messages')) rows.push(inboundRow(message, value, value.metadata, routedTo));
      for (const status of list(value.statuses, 'statuses')) rows.push(statusRow(status, value.metadata));
    }
  }
  return collapse(rows);
}

/**
 * One row per wamid: a batch may hold several receipts of one message, in any order, and
 * the upsert keeps only the last row of a key. The furthest status wins, with every receipt's payload.
 */
function collapse(rows: RowInput[]): RowInput[] {
  const byKey = new Map<string, RowInput>();
  for (const row of rows) {
    const seen = byKey.get(row.key);
    if (!seen) {
      byKey.set(row.key, row);
      continue;
    }
    const [ahead, behind] = rankOf(row.columns.status) > rankOf(seen.columns.status) ? [row, seen] : [seen, row];
    const statusesOf = (r: RowInput) => (r.data as { statuses?: object }).statuses;
    const statuses = statusesOf(ahead) && { ...statusesOf(behind), ...statusesOf(ahead) };
    byKey.set(row.key, statuses ? { ...ahead, data: { ...(ahead.data as object), statuses } } : ahead);
  }
  return [...byKey.values()];
}

export const whatsappMessageV1 = defineReplicator({
  name: WHATSAPP_MESSAGE,
  description: 'WhatsApp Cloud API messages and status receipts',
  remoteKey: 'wamid',
  columns: [
    { name: 'direction', type: 'text', onUpdate: 'coalesce' },
    { name: 'from', type: 'text', onUpdate: 'coalesce' },
    { name: 'to', type: 'text', onUpdate: 'coalesce' },
    { name: 'type', type: 'text', onUpdate: 'coalesce' },
    { name: 'status', type: 'text' },
    { name: 'timestamp', type: 'timestamptz', onUpdate: 'coalesce' },
    // A failure's code and title stay when a later receipt proves delivery after all.
    { name: 'error_code', type: 'integer', onUpdate: 'coalesce' },
    { name: 'error_title', type: 'text', onUpdate: 'coalesce' },
    // 'front' | 'flow' | NULL (undecided): set once, never cleared by a later receipt.
    { name: 'routed_to', type: 'text', onUpdate: 'coalesce' },
  ],
  // A receipt moves the status forward; the flow pass decides an undecided message once.
  updateWhere: `${rank('excluded.status')} > ${rank('existing.status')} OR (existing.routed_to IS NULL AND excluded.routed_to IS NOT NULL)`,
  dataOnUpdate: {
    sql: `CASE WHEN excluded.data ? 'statuses'
      THEN existing.data || excluded.data || jsonb_build_object('statuses', COALESCE(existing.data->'statuses', '{}'::jsonb) || (excluded.data->'statuses'))
      ELSE existing.data || excluded.data END`,
  },
  fields: [
    {
      flag: 'phone-number-id',
      target: { column: 'backfill_key' },
      description: 'phone number id (Meta app dashboard → WhatsApp → API Setup)',
      required: true,
      parse: (value) => {
        if (!/^\d{1,30}$/.test(value)) throw new Error('a phone number id is digits only (not the phone number itself)');
        return value;
      },
    },
    { flag: 'access-token', target: { column: 'backfill_secret' }, description: 'system user access token with whatsapp_business_messaging', required: true, secret: true },
    { flag: 'app-secret', target: { column: 'webhook_secret' }, description: 'app secret (App settings → Basic), verifies webhook signatures', required: true, secret: true },
    { flag: 'verify-token', target: { setting: 'verify_token' }, description: 'verify token you type into the webhook setup', required: true, secret: true },
    {
      flag: 'api-url',
      target: { column: 'api_url' },
      description: `Graph API base URL (default ${DEFAULT_GRAPH_URL})`,
      parse: (value) => {
        if (!/^https?:\/\//i.test(value) || !URL.canParse(value)) throw new Error(`"${value}" is not an http(s) URL`);
        return value.replace(/\/+$/, '');
      },
    },
    {
      flag: 'api-version',
      target: { setting: 'api_version' },
      description: `Graph API version, e.g. ${DEFAULT_GRAPH_VERSION} (the default)`,
      parse: (value) => {
        if (!/^v\d{1,3}\.\d{1,2}$/.test(value)) throw new Error('a Graph API version looks like v23.0');
        return value;
      },
    },
    ...FLOW_FIELDS,
  ],
  // Pending: a message the flow pass has not decided yet (or kept for the session's end), or whose flow reply is not sent.
  pendingWhere: `direction = 'inbound' AND (routed_to IS NULL OR EXISTS (SELECT 1 FROM whatsapp_flow_steps s
    WHERE s.integration_id = whatsapp_message_v1.integration_id AND s.wamid = whatsapp_message_v1.wamid
      AND s.reply IS NOT NULL AND s.sent_wamid IS NULL AND s.error_code IS NULL))`,
  // Failed: Meta refused the flow's reply to the message with a final code (131026: not on WhatsApp).
  failedWhere: `direction = 'inbound' AND EXISTS (SELECT 1 FROM whatsapp_flow_steps s
    WHERE s.integration_id = whatsapp_message_v1.integration_id AND s.wamid = whatsapp_message_v1.wamid AND s.error_code IS NOT NULL)`,
  failedReason: `(SELECT 'flow reply refused: ' || s.error_code || coalesce(' ' || s.error_title, '') FROM whatsapp_flow_steps s
    WHERE s.integration_id = whatsapp_message_v1.integration_id AND s.wamid = whatsapp_message_v1.wamid)`,
  // A webhook's rows ask for the pass that walks undecided messages through the flow. Without
  // a flow, toRows routes every message to Front at once: there is nothing for a pass to do.
  backfillOnChange: (integration) => flowOf(integration) !== null,
  backfillers: (integration) => [{ name: 'flow', run: (ctx) => runFlowPass(ctx, whatsAppClient(integration)) }],
  // The phone number id says which webhooks are ours: a reset keeps it, clearing only the secrets.
  resetClears: ['backfill_secret', 'webhook_secret'],
  toRows(item, { integration, request }) {
    if (!request) throw invalidPayload('whatsapp_message_v1 rows come from webhooks only');
    return webhookRows(item, integration.backfill_key, flowOf(integration) ? null : 'front');
  },
  verifyWebhook(request, integration) {
    if (!integration.webhook_secret) return { ok: false, reason: `no app secret configured: set one with \`switchboard integrations update ${integration.id} --app-secret <secret>\`` };
    const given = request.headers['x-hub-signature-256'];
    if (!given) return { ok: false, reason: 'missing X-Hub-Signature-256' };
    const expected = `sha256=${createHmac('sha256', integration.webhook_secret).update(request.rawBody).digest('hex')}`;
    return safeEqual(expected, given.toLowerCase()) ? { ok: true } : { ok: false, reason: 'invalid signature' };
  },
  verifySubscription(query, integration) {
    const token = settingOf(integration, 'verify_token');
    if (query['hub.mode'] !== 'subscribe') return { ok: false, reason: 'hub.mode must be subscribe' };
    if (!token || !safeEqual(token, query['hub.verify_token'] ?? '')) return { ok: false, reason: 'hub.verify_token does not match' };
    const challenge = query['hub.challenge'] ?? '';
    // Echoed as the body: printable ASCII only, so the answer cannot become anything but the challenge.
    if (!/^[\x21-\x7e]{1,256}$/.test(challenge)) return { ok: false, reason: 'hub.challenge is missing or malformed' };
    return { ok: true, body: challenge };
  },
  // Meta wants a 200; anything else is retried for days.
  webhookResponse: () => ({ status: 200, contentType: 'application/json', body: '{"o":"k"}' }),
  async doctor(integration) {
    const missing = [!integration.webhook_secret && '--app-secret <secret>', !settingOf(integration, 'verify_token') && '--verify-token <token>'].filter(Boolean);
    const webhooks: Finding =
      missing.length === 0
        ? { check: 'webhooks', status: 'ok', detail: 'app secret and verify token set: the subscription handshake and signed webhooks are accepted' }
        : { check: 'webhooks', status: 'fail', detail: `webhooks are refused until you run \`switchboard integrations update ${integration.id} ${missing.join(' ')}\`` };
    try {
      const number = await whatsAppClient(integration).phoneNumber();
      const name = number.verified_name ? ` (${number.verified_name})` : '';
      return [{ check: 'credentials', status: 'ok', detail: `the Graph API accepted the access token for phone number id ${integration.backfill_key}${name}` }, webhooks];
    } catch (error) {
      const fix = `fix with \`switchboard integrations update ${integration.id} --access-token <token> --phone-number-id <id>\``;
      return [{ check: 'credentials', status: 'fail', detail: `${(error as Error).message}; ${fix}` }, webhooks];
    }
  },
  setupInstructions: (integration, publicUrl) =>
    [
      "In Meta's app dashboard (developers.facebook.com → your app → WhatsApp → Configuration):",
      `1. Callback URL: ${publicUrl}/v1/service_integrations/${integration.opaque_id}`,
      '2. Verify token: the --verify-token you gave here; press "Verify and save" (Meta sends a GET with hub.challenge).',
      '3. Webhook fields: subscribe to "messages" (inbound messages and status receipts).',
      '4. The app secret (App settings → Basic) signs every webhook; the access token should be a',
      '   system user token (Business settings → System users) with whatsapp_business_messaging.',
      integration.settings.flow
        ? `Clients walk the flow given with --flow before their messages go to Front (handoff idle: ${String(integration.settings.handoff_idle ?? DEFAULT_HANDOFF_IDLE_MINUTES)} min).`
        : 'Optional: --flow <file> greets clients with the menus of a USSD flow document before Front.',
      `Check the token with \`switchboard doctor\`. Guide: docs/guides/whatsapp.md`,
    ].join('\n'),
});
