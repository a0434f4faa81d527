/**
 * How the SMS channel's rows read for delivery (front-channel/deliver.ts): an SMS was
 * written when SignalWire created it; it imports with its media; a failure notice imports
 * once per failed sid (`fsmca-swfail-<sid>`) with WebhookDB's text.
 */
import type { ChannelRow, ChannelSpec, Delivery } from '../front-channel/deliver.ts';
import { parseSignalWireDate, signalWireClient } from '../../providers/signalwire/client.ts';
import { failureNoticeText } from './rows.ts';
import { sidOf, signalWireMedia } from './signalwire-media.ts';

const isNotice = (row: ChannelRow) => row.data.notice === 'signalwire_failure';

/**
 * Status callbacks carry the error code but not its message: ask SignalWire for the
 * message so the notice reads as WebhookDB's (which only saw polled data).
 */
async function noticeText(delivery: Delivery, row: ChannelRow): Promise<string> {
  const failed = (row.data.failed_message ?? {}) as Record<string, unknown>;
  const sid = sidOf(row);
  if (failed.error_message || !sid) return failureNoticeText(failed);
  const current = await signalWireClient(delivery.parent).getMessage(sid);
  return failureNoticeText({ ...failed, error_code: current.error_code ?? failed.error_code, error_message: current.error_message, body: current.body ?? failed.body });
}

export const smsChannelSpec: ChannelSpec = {
  // Every SMS channel row has exactly one id: the side it came from.
  invariant: (row) => ((sidOf(row) === null) === (row.front_message_id === null) ? 'row has both or neither counterpart ids' : null),
  writtenAt: (row) => (isNotice(row) ? new Date(String(row.data.noticed_at)) : parseSignalWireDate(row.data.date_created)) ?? row.row_created_at,
  async importPlan(delivery, row, writtenAt) {
    if (isNotice(row)) {
      return { body: await noticeText(delivery, row), files: [], externalId: sidOf(row) ?? row.external_id, key: `fsmca-swfail-${sidOf(row)}` };
    }
    const { body, files } = await signalWireMedia(delivery, row, writtenAt);
    return { body, files, externalId: row.external_id, key: `fsmca-fims-${row.external_id}` };
  },
};
