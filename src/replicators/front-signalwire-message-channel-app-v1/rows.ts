/**
 * SignalWire messages as rows of the SMS channel: one row per message, keyed by its sid,
 * and WebhookDB's failure notice for a failed send.
 */
import type { RowInput } from '../../engine/replicator.ts';

export interface SignalWireRowView {
  sid: string;
  direction: string | null;
  from: string | null;
  to: string | null;
  data: Record<string, unknown>;
}

/** The row importing a SignalWire message into Front: inbound to us, or sent from our number outside Front. */
export function signalWireRow(message: SignalWireRowView, kind: 'inbound' | 'outbound', from: string, to: string): RowInput {
  const columns = {
    signalwire_sid: message.sid,
    front_message_id: null,
    external_conversation_id: kind === 'inbound' ? from : to,
    direction: kind,
    body: typeof message.data.body === 'string' ? message.data.body : null,
    sender: from,
    recipient: to,
  };
  return { key: message.sid, columns, data: { ...message.data, ...columns, external_id: message.sid } };
}

/** WebhookDB's failure notice text: "SMS failed to send. Error (<code>): <message>\n<first 26 chars>". */
export function failureNoticeText(data: Record<string, unknown>): string {
  const code = data.error_code === null || data.error_code === undefined || data.error_code === '' ? '-' : String(data.error_code);
  const message = typeof data.error_message === 'string' && data.error_message ? data.error_message : '-';
  const body = typeof data.body === 'string' ? data.body : '';
  return `SMS failed to send. Error (${code}): ${message}\n${body.slice(0, 26)}`;
}

/** A notice row: imported into Front as an inbound message from the customer, once per failed sid. */
export function failureNoticeRow(message: SignalWireRowView, support: string, customer: string, now: Date): RowInput {
  const columns = {
    signalwire_sid: message.sid,
    front_message_id: null,
    external_conversation_id: customer,
    direction: 'inbound',
    body: failureNoticeText(message.data),
    sender: customer,
    recipient: support,
  };
  return {
    key: `swfail-${message.sid}`,
    columns,
    data: { notice: 'signalwire_failure', failed_message: message.data, ...columns, external_id: message.sid, noticed_at: now.toISOString() },
  };
}
