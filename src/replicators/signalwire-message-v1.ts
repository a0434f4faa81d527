/**
 * `signalwire_message_v1`: every message of a SignalWire project, one row per message sid.
 *
 * Two ways in, converging on one row:
 * - polling (WebhookDB's only way): list Messages.json newest first, following
 *   next_page_uri; incremental passes stop at the first page older than the last pass;
 * - webhooks (ours, for sub-second latency): inbound messages and status callbacks,
 *   form-encoded and signed with the project's signing key.
 * A webhook knows less than the API, so it only moves the status forward and merges what
 * it has into `data`; API data with a newer `date_updated` always wins. Integration
 * fields: api_url = space URL, backfill_key = project id, backfill_secret = API token,
 * webhook_secret = signing key.
 */
import type { ServiceIntegration } from '../db/schema.ts';
import { invalidPayload } from '../engine/errors.ts';
import { defineReplicator, type RowInput, type WebhookRequest } from '../engine/replicator.ts';
import {
  formatSignalWireDate,
  parseSignalWireDate,
  SIGNALWIRE_DEFAULT_SEND_RATE,
  signalWireClient,
  spaceBaseUrl,
  type SignalWireMessage,
} from '../providers/signalwire/client.ts';
import { verifySignalWireSignature } from '../providers/signalwire/signature.ts';

export const SIGNALWIRE_MESSAGE = 'signalwire_message_v1';

/** Messages created this long before the last pass are still re-read (clock skew, late listing). */
const INCREMENTAL_OVERLAP_MS = 5 * 60_000;
const PAGE_SIZE = '100';

const FINAL_STATUSES = "('delivered', 'undelivered', 'failed', 'received', 'read', 'canceled')";
const EARLY_STATUSES = "('accepted', 'scheduled', 'queued', 'sending', 'sent', 'receiving', 'initiated')";

function apiRow(message: SignalWireMessage): RowInput {
  if (typeof message?.sid !== 'string' || message.sid === '') throw invalidPayload('message without sid');
  return {
    key: message.sid,
    columns: {
      date_created: parseSignalWireDate(message.date_created),
      date_sent: parseSignalWireDate(message.date_sent),
      date_updated: parseSignalWireDate(message.date_updated),
      direction: message.direction ?? null,
      from: message.from ?? null,
      to: message.to ?? null,
      status: message.status ?? null,
    },
    data: message,
  };
}

/**
 * Message ids: SignalWire's are UUIDs (its docs' samples); Twilio-style ones (SM/MM + 32
 * hex) come through the compatibility surface too. A fixed shape matters: SignalWire signs
 * names and values run together, so a logged request can be re-cut at another boundary
 * ("MessageSid=SM0001" + "Sms…" as "MessageSid=SM0001Sms") under the same signature.
 */
const MESSAGE_SID = /^(?:(?:SM|MM)[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;
const ACCOUNT_SID = /^(?:AC[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;
const STATUSES = new Set(['accepted', 'scheduled', 'queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'receiving', 'received', 'read', 'canceled']);
/** Parameters of SignalWire's (Twilio-compatible) inbound-message webhooks and status callbacks; anything else is refused. */
const WEBHOOK_PARAMS = new Set([
  'MessageSid', 'SmsSid', 'SmsMessageSid', 'AccountSid', 'MessagingServiceSid', 'ApiVersion',
  'From', 'To', 'Body', 'NumMedia', 'NumSegments', 'SmsStatus', 'MessageStatus', 'ErrorCode', 'ErrorMessage', 'RawDlrDoneDate',
  'FromCity', 'FromState', 'FromZip', 'FromCountry', 'ToCity', 'ToState', 'ToZip', 'ToCountry',
]);
const MEDIA_PARAM = /^(?:MediaUrl|MediaContentType)\d{1,2}$/;
const DIGITS = /^\d{1,10}$/;

/** The form must be one SignalWire sends: known names, ids of SignalWire's shape, statuses and counts as documented. */
function checkWebhookForm(form: Record<string, string>): string {
  const unknown = Object.keys(form).filter((name) => !WEBHOOK_PARAMS.has(name) && !MEDIA_PARAM.test(name));
  if (unknown.length > 0) throw invalidPayload(`unexpected parameters for a SignalWire message webhook: ${unknown.slice(0, 5).join(', ')}`);
  const sids = [form.MessageSid, form.SmsSid, form.SmsMessageSid].filter((v) => v !== undefined);
  const sid = sids[0];
  if (sid === undefined) throw invalidPayload('MessageSid is required');
  if (!MESSAGE_SID.test(sid) || sids.some((other) => other !== sid)) throw invalidPayload('MessageSid is not a SignalWire message id');
  if (form.AccountSid !== undefined && !ACCOUNT_SID.test(form.AccountSid)) throw invalidPayload('AccountSid is not a SignalWire project id');
  for (const name of ['MessageStatus', 'SmsStatus']) {
    if (form[name] !== undefined && !STATUSES.has(form[name]!)) throw invalidPayload(`${name} is not a message status`);
  }
  for (const name of ['NumMedia', 'NumSegments', 'ErrorCode']) {
    if (form[name] !== undefined && form[name] !== '' && !DIGITS.test(form[name]!)) throw invalidPayload(`${name} is not a number`);
  }
  return sid;
}

/** An inbound-message webhook or a status callback, shaped like the API's message JSON. */
function webhookRow(form: Record<string, string>): RowInput {
  const sid = checkWebhookForm(form);
  const status = form.MessageStatus ?? form.SmsStatus ?? 'received';
  const inbound = status === 'received' || status === 'receiving';
  // "Now" stands for date_updated: the webhook reports the state as of its arrival.
  const now = new Date();
  const data: Record<string, unknown> = { sid, status, date_updated: formatSignalWireDate(now), webhook_params: form };
  const copy: [string, string][] = [
    ['AccountSid', 'account_sid'],
    ['From', 'from'],
    ['To', 'to'],
    ['Body', 'body'],
    ['NumMedia', 'num_media'],
    ['NumSegments', 'num_segments'],
    ['ErrorCode', 'error_code'],
    ['ErrorMessage', 'error_message'],
  ];
  for (const [param, key] of copy) if (form[param] !== undefined) data[key] = form[param];
  if (inbound) Object.assign(data, { direction: 'inbound', date_created: data.date_updated });
  return {
    key: sid,
    columns: {
      date_created: inbound ? now : null,
      date_sent: null,
      date_updated: now,
      direction: inbound ? 'inbound' : null,
      from: form.From ?? null,
      to: form.To ?? null,
      status,
    },
    data,
  };
}

/** doctor's and the dashboard's fix for rejected or unreachable credentials. */
function credentialsFix(integration: ServiceIntegration): string {
  return `fix with \`switchboard integrations update ${integration.id} --space <space> --project-id <id> --api-token <token>\``;
}

function formPairs(request: WebhookRequest): [string, string][] {
  return [...new URLSearchParams(request.rawBody.toString('utf8'))];
}

export const signalwireMessageV1 = defineReplicator({
  name: SIGNALWIRE_MESSAGE,
  description: 'SignalWire Messages',
  remoteKey: 'signalwire_id',
  columns: [
    { name: 'date_created', type: 'timestamptz', onUpdate: 'coalesce' },
    { name: 'date_sent', type: 'timestamptz', onUpdate: 'coalesce' },
    { name: 'date_updated', type: 'timestamptz' },
    { name: 'direction', type: 'text', onUpdate: 'coalesce' },
    { name: 'from', type: 'text', onUpdate: 'coalesce' },
    { name: 'to', type: 'text', onUpdate: 'coalesce' },
    { name: 'status', type: 'text' },
  ],
  updateWhere: `CASE WHEN excluded.data ? 'webhook_params' THEN
      existing.status IS DISTINCT FROM excluded.status
      AND NOT (existing.status IN ${FINAL_STATUSES} AND excluded.status IN ${EARLY_STATUSES})
      AND (existing.date_updated IS NULL OR existing.date_updated < excluded.date_updated)
    ELSE
      existing.date_updated IS NULL OR existing.date_updated < excluded.date_updated
      -- over a row a webhook wrote (dated by our clock), the API wins unless it would undo a final status
      OR (existing.data ? 'webhook_params' AND NOT (existing.status IN ${FINAL_STATUSES} AND excluded.status IN ${EARLY_STATUSES}))
    END`,
  // A webhook adds to what the API told us; API data replaces the row's data whole.
  dataOnUpdate: { sql: "CASE WHEN excluded.data ? 'webhook_params' THEN existing.data || excluded.data ELSE excluded.data END" },
  polls: true,
  fields: [
    {
      flag: 'space',
      target: { column: 'api_url' },
      description: 'space name (acme → https://acme.signalwire.com) or URL',
      required: true,
      parse: (value) => {
        const url = spaceBaseUrl(value);
        if (!URL.canParse(url)) throw new Error(`"${value}" is neither a space name nor a URL`);
        return url;
      },
    },
    { flag: 'project-id', target: { column: 'backfill_key' }, description: 'project id', required: true },
    { flag: 'api-token', target: { column: 'backfill_secret' }, description: 'API token with the Messaging scope', required: true, secret: true },
    { flag: 'signing-key', target: { column: 'webhook_secret' }, description: 'signing key (PSK_...), to accept webhooks', secret: true },
    {
      flag: 'send-rate',
      target: { setting: 'send_rate' },
      description: `SMS per second from each number, shared by every worker (default ${SIGNALWIRE_DEFAULT_SEND_RATE}, SignalWire's API limit; your number's rate keeps SignalWire's queue empty: 10DLC 4, toll-free 3, short code 10)`,
      parse: (value) => {
        const rate = Number(value);
        if (!(rate > 0 && rate <= SIGNALWIRE_DEFAULT_SEND_RATE)) throw new Error(`"${value}" is not a rate between 0 and ${SIGNALWIRE_DEFAULT_SEND_RATE} per second`);
        return String(rate);
      },
    },
  ],
  toRows(item, { request }) {
    if (request) {
      if (item === null || typeof item !== 'object') throw invalidPayload('expected a form-encoded body');
      // The parsed form keeps a repeated name's first value; the signature covered them all.
      const names = formPairs(request).map(([name]) => name);
      if (new Set(names).size !== names.length) throw invalidPayload('a parameter is repeated');
      return [webhookRow(item as Record<string, string>)];
    }
    return [apiRow(item as SignalWireMessage)];
  },
  verifyWebhook(request, integration) {
    if (!integration.webhook_secret) {
      return { ok: false, reason: `no signing key configured: set one with \`switchboard integrations update ${integration.id} --signing-key <key>\`` };
    }
    return verifySignalWireSignature(integration.webhook_secret, request.url, formPairs(request), request.headers);
  },
  webhookResponse: () => ({ status: 200, contentType: 'text/xml', body: '<Response></Response>' }),
  backfillers: (integration) => [
    {
      name: 'messages',
      async run(ctx) {
        const client = signalWireClient(integration);
        // Spelled right (WebhookDB sends `DateSend<`, which SignalWire ignores); two days
        // ahead so no time zone hides today's messages.
        const until = new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 10);
        const stopBefore = ctx.lastBackfilledAt ? ctx.lastBackfilledAt.getTime() - INCREMENTAL_OVERLAP_MS : null;
        let next: string | null = null;
        for (let first = true; first || next; first = false) {
          const page = await client.listMessages(next, first ? { PageSize: PAGE_SIZE, 'DateSent<': until } : {});
          await ctx.upsertItems(page.messages ?? []);
          next = page.next_page_uri || null;
          if (stopBefore !== null) {
            const oldest = parseSignalWireDate(page.messages?.at(-1)?.date_created)?.getTime() ?? 0;
            if (oldest < stopBefore) break;
          }
        }
      },
    },
  ],
  providerFix: credentialsFix,
  async doctor(integration) {
    try {
      await signalWireClient(integration).listMessages(null, { PageSize: '1' });
      const webhooks = integration.webhook_secret
        ? { check: 'webhooks', status: 'ok' as const, detail: 'signing key set: inbound messages and status callbacks are accepted' }
        : { check: 'webhooks', status: 'warn' as const, detail: `no signing key: only polling works; set one with \`switchboard integrations update ${integration.id} --signing-key <PSK_...>\`` };
      return [{ check: 'credentials', status: 'ok', detail: `SignalWire accepted the project id and token (${integration.api_url})` }, webhooks];
    } catch (error) {
      return [{ check: 'credentials', status: 'fail', detail: `${(error as Error).message}; ${credentialsFix(integration)}` }];
    }
  },
  webhookUrl: (integration, publicUrl) => `${publicUrl}/v1/service_integrations/${integration.opaque_id}`,
  setupInstructions: (integration, publicUrl) =>
    [
      'SignalWire messages are polled every minute. For sub-second delivery, also point the',
      "phone number's messaging webhook at Switchboard (SignalWire → Phone Numbers → your number →",
      `Messaging Settings → "When a message comes in": POST ${publicUrl}/v1/service_integrations/${integration.opaque_id})`,
      integration.webhook_secret
        ? 'Webhooks are verified with the signing key you gave.'
        : `and give the project's signing key: switchboard integrations update ${integration.id} --signing-key <PSK_...>`,
    ].join('\n'),
});
