/**
 * What the carrier finally said about a reply the transport handed over: the provider
 * accepts an SMS, and only its later status (SignalWire's `failed`/`undelivered`, code
 * 30003…; WhatsApp's `failed`, 131026…) says it never arrived. The channel row stays `delivered` (our send is done and
 * never retried); readers derive `carrier_failed` from the provider's row at read time,
 * so a status callback that arrives before the send's sid is committed is never missed.
 * Plain SQL, for the `channel_messages` view (migrations) and the replicators' counts.
 */

/** A provider's record of a channel row's message. */
export interface CarrierRecord {
  /** SQL: one row (status, error_code, error_message) or none, for the channel row named `row`. */
  query(row: string): string;
  /** Statuses that mean the carrier failed the message after the provider accepted it. */
  failedStatuses: readonly string[];
}

/** SignalWire's row for the channel row's sid, in the integration the channel depends on. */
export const SMS_RECORD: CarrierRecord = {
  query: (row) => `SELECT s.status, s.data->>'error_code' AS error_code, s.data->>'error_message' AS error_message
                   FROM service_integrations i
                   JOIN signalwire_message_v1 s ON s.integration_id = i.depends_on AND s.signalwire_id = ${row}.signalwire_sid
                   WHERE i.id = ${row}.integration_id`,
  failedStatuses: ['failed', 'undelivered'],
};

/** WhatsApp's row for the channel row's wamid (status receipts), in the integration the channel depends on. */
export const WHATSAPP_RECORD: CarrierRecord = {
  query: (row) => `SELECT w.status, w.error_code::text AS error_code, w.error_title AS error_message
                   FROM service_integrations i
                   JOIN whatsapp_message_v1 w ON w.integration_id = i.depends_on AND w.wamid = ${row}.whatsapp_wamid
                   WHERE i.id = ${row}.integration_id`,
  failedStatuses: ['failed'],
};

/** SQL over a record joined as `t` and the channel row `row`: we delivered it, the carrier failed it. */
export function carrierFailed(record: CarrierRecord, row: string, t: string): string {
  return `(${row}.delivery_status = 'delivered' AND ${t}.status IN (${record.failedStatuses.map((s) => `'${s}'`).join(', ')}))`;
}

/** The replicator's `failedWhere` and `failedReason` over its table `table`: refused by the provider, or failed by the carrier. */
export function channelFailures(record: CarrierRecord, table: string): { failedWhere: string; failedReason: string } {
  const joined = `FROM (${record.query(table)}) t WHERE ${carrierFailed(record, table, 't')}`;
  return {
    // A notice row carries the sid of the failure it reports: it is not that message.
    failedWhere: `delivery_status = 'failed' OR (NOT data ? 'notice' AND EXISTS (SELECT 1 ${joined}))`,
    failedReason: `CASE WHEN delivery_status = 'failed' THEN concat_ws(': ', delivery_error_code, delivery_error_message)
                   ELSE (SELECT concat_ws(': ', 'carrier ' || t.status, t.error_code, t.error_message) ${joined}) END`,
  };
}
