/**
 * The outbound side of a Front channel: how a counsellor's reply leaves for the client.
 * deliver.ts is the same for every channel; the transport says which provider
 * integration the channel depends on, which column holds the provider's id of a sent
 * reply, what may not be sent (allowlist, consent, windows), how to send once, and how
 * to find our own earlier send when its answer never came.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import type { CarrierRecord } from './carrier.ts';
import type { ChannelRow, Delivery } from './deliver.ts';

/**
 * Not now: the row stays pending until `until` (or until something clears its
 * next_attempt_at sooner). Thrown from `refusal` or `findEarlierSend`, e.g. to wait for a
 * client to reopen a messaging window, or for the provider's receipt of a send whose
 * answer was lost before deciding to send again.
 */
export class NotYet extends Error {
  readonly until: Date;
  constructor(until: Date, reason: string) {
    super(reason);
    this.until = until;
  }
}

/** Why a reply is not sent: `marker` goes in the counterpart column, `message` on the row. */
export interface Refusal {
  marker: string;
  message: string;
}

export interface Transport {
  /** The provider's service (its integration is the channel's `depends_on`). */
  dependsOn: string;
  /** The channel table's column for the provider's id of a message: the counterpart of front_message_id. */
  counterpartColumn: string;
  /** The provider's later word on a sent message (a carrier failure), in SQL. */
  record: CarrierRecord;
  /** The once-ever key a row's send goes under. */
  sendKey(row: ChannelRow): string;
  /** What the provider must not be asked to send (outside an allowlist, a closed window), or null; may throw NotYet. */
  refusal(delivery: Delivery, row: ChannelRow): Promise<Refusal | null>;
  /** Send the reply; the provider's id. Database work joins `db` (the once-ever transaction). */
  send(delivery: Delivery, row: ChannelRow, db: Kysely<Database>): Promise<string>;
  /** Our send of this row, started at `since`, whose answer never came, if the provider has it; may throw NotYet. */
  findEarlierSend(delivery: Delivery, row: ChannelRow, since: Date, db: Kysely<Database>): Promise<string | null>;
  /** The provider's send limit this row counts against (providers/send-rate.ts); none: sends are not paced. */
  sendRate?(delivery: Delivery, row: ChannelRow): { bucket: string; perSecond: number };
}
