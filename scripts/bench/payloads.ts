/**
 * Requests as providers send them, for the load generator and the convergence run:
 * SignalWire's signed inbound-message webhook, Meta's signed WhatsApp message webhook and
 * Front's signed channel `message`. Each call makes a new message, so every request is a
 * real insert, not a repeat.
 */
import { messageRequest, signFrontRequest } from '../../src/simulators/front-client.ts';
import { signSignalWireRequest } from '../../src/simulators/signalwire-wire.ts';
import { signWhatsAppPayload, whatsAppEnvelope } from '../../src/simulators/whatsapp.ts';

export const CUSTOMER = '+15550002222';

export interface SignedRequest {
  headers: Record<string, string>;
  body: string;
}

/** An inbound SMS to `to`, signed for `url` (the URL the server believes it is reached at). */
export function signalwireInbound(options: { url: string; signingKey: string; accountSid: string; sid: string; to: string; body: string }): SignedRequest {
  const params: [string, string][] = [
    ['MessageSid', options.sid],
    ['SmsSid', options.sid],
    ['AccountSid', options.accountSid],
    ['From', CUSTOMER],
    ['To', options.to],
    ['Body', options.body],
    ['NumMedia', '0'],
    ['NumSegments', '1'],
    ['SmsStatus', 'received'],
    ['ApiVersion', '2010-04-01'],
  ];
  const signature = signSignalWireRequest(options.signingKey, options.url, params);
  return {
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-signalwire-signature': signature },
    body: new URLSearchParams(params).toString(),
  };
}

/** The business number a WhatsApp webhook is for, as the WhatsApp simulator names it. */
export interface WhatsAppNumber {
  appSecret: string;
  phoneNumberId: string;
  displayPhoneNumber: string;
  wabaId: string;
}

/** A client's inbound WhatsApp text `wamid`, signed as Meta signs it (X-Hub-Signature-256 over the raw body). */
export function whatsappInbound(options: WhatsAppNumber & { wamid: string; body: string }): SignedRequest {
  const from = CUSTOMER.slice(1);
  const message = { from, id: options.wamid, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: options.body } };
  const body = JSON.stringify(whatsAppEnvelope(options, { contacts: [{ profile: { name: 'Client' }, wa_id: from }], messages: [message] }));
  return { headers: { 'content-type': 'application/json', 'x-hub-signature-256': signWhatsAppPayload(options.appSecret, body) }, body };
}

const noAttachments = (): never => {
  throw new Error('benchmark messages have no attachments');
};

/** A counsellor's message `id` to the customer on `channelId`, as Front posts it to the channel. */
export function frontMessage(options: { appSecret: string; apiKey: string; channelId: string; id: string; text: string }): SignedRequest {
  const body = JSON.stringify(messageRequest({ id: options.id, channelId: options.channelId, text: options.text, to: [CUSTOMER] }, noAttachments));
  const timestamp = String(Date.now());
  return {
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${options.apiKey}`,
      'x-front-request-timestamp': timestamp,
      'x-front-signature': signFrontRequest(options.appSecret, timestamp, body),
    },
    body,
  };
}
