/**
 * Replies by SMS through the channel's `signalwire_message_v1` integration (the SMS and
 * USSD channels): recipients outside SIGNALWIRE_SMS_ALLOWLIST are skipped, Front
 * attachments go as hosted MediaUrls, and a send whose answer never came is looked for
 * among SignalWire's messages to the recipient before anything is sent again.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import { parseSignalWireDate, signalWireClient, signalWireSendRate } from '../../providers/signalwire/client.ts';
import { SIGNALWIRE_MESSAGE } from '../signalwire-message-v1.ts';
import { SMS_RECORD } from './carrier.ts';
import type { ChannelRow, Delivery } from './deliver.ts';
import { frontAttachmentUrls } from './front-media.ts';
import { claimFromImport, isKnownMessage } from './own-sends.ts';
import type { Transport } from './transport.ts';

/** fnmatch-style globs (`*`, `?`), as WebhookDB's allowlist. */
export function allowedRecipient(recipient: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => {
    const regex = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.');
    return new RegExp(`^${regex}$`).test(recipient);
  });
}

export const smsTransport: Transport = {
  dependsOn: SIGNALWIRE_MESSAGE,
  counterpartColumn: 'signalwire_sid',
  record: SMS_RECORD,
  sendKey: (row) => `fsmca-fims-${row.external_id}`,

  async refusal({ ctx }, row) {
    if (row.recipient && allowedRecipient(row.recipient, ctx.config.smsAllowlist)) return null;
    ctx.log.warn({ pk: row.pk }, 'recipient not in SIGNALWIRE_SMS_ALLOWLIST; SMS not sent');
    return { marker: 'skipped', message: 'recipient not in SIGNALWIRE_SMS_ALLOWLIST' };
  },

  async send(delivery, row, db) {
    const { ctx, parent } = delivery;
    const attachments = ((row.data.payload ?? {}) as { attachments?: unknown }).attachments;
    const mediaUrls = await frontAttachmentUrls(delivery, row, attachments, db);
    const statusCallback = parent.webhook_secret ? `${ctx.config.publicUrl}/v1/service_integrations/${parent.opaque_id}` : null;
    const sent = await signalWireClient(parent).sendMessage({ from: row.sender ?? '', to: row.recipient ?? '', body: row.body, mediaUrls, statusCallback });
    return sent.sid;
  },

  // SignalWire limits each sending number (and its space); every channel on the integration shares the number's pace.
  sendRate: ({ parent }, row) => ({ bucket: `signalwire:${parent.id}:${row.sender ?? ''}`, perSecond: signalWireSendRate(parent) }),

  // Our message to this recipient created since the attempt started, not yet claimed by another row.
  async findEarlierSend(delivery: Delivery, row: ChannelRow, since: Date, db: Kysely<Database>) {
    const page = await signalWireClient(delivery.parent).listMessages(null, { To: row.recipient ?? '', From: row.sender ?? '', PageSize: '50' });
    const ctx = { db, registry: delivery.ctx.registry };
    for (const message of page.messages ?? []) {
      const created = parseSignalWireDate(message.date_created)?.getTime() ?? 0;
      if (message.direction !== 'outbound-api' || created < since.getTime() - 60_000) continue;
      if ((message.body ?? '') !== (row.body ?? '')) continue;
      if (!(await isKnownMessage(ctx, delivery.integration, message.sid)) || (await claimFromImport(db, delivery.integration, message.sid))) return message.sid;
    }
    return null;
  },
};
