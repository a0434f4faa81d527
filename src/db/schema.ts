/**
 * Row types of the engine's own tables, for kysely, and of the replicator tables code
 * queries by name (USSD hops and sessions); other replicator tables' columns come from
 * each replicator's descriptor and are queried with `sql`.
 * Keep in sync with migrations/ (the schema test compares them).
 */
import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T> = ColumnType<T, string, string>;

export interface ServiceIntegrationsTable {
  id: Generated<number>;
  opaque_id: string;
  service_name: string;
  depends_on: number | null;
  api_url: string | null;
  backfill_key: string | null;
  backfill_secret: string | null;
  webhook_secret: string | null;
  api_key_hash: string | null;
  settings: Json<Record<string, unknown>>;
  last_backfilled_at: Date | null;
  last_error_code: string | null;
  last_error_message: string | null;
  last_error_at: Date | null;
  /** A pass asked for while one ran: {incremental, recursive, trigger}. */
  backfill_requested: Json<{ incremental: boolean; recursive: boolean; trigger: string }> | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface BackfillRunsTable {
  id: Generated<number>;
  integration_id: number;
  incremental: boolean;
  trigger: string;
  status: 'running' | 'succeeded' | 'failed';
  rows_processed: Generated<number>;
  rows_total: number | null;
  error: string | null;
  started_at: Timestamp;
  heartbeat_at: Timestamp;
  finished_at: Date | null;
}

export interface IdempotencyKeysTable {
  scope: Generated<string>;
  key: string;
  created_at: Timestamp;
  completed_at: Date | null;
  result: Json<unknown> | null;
}

export interface WebhookLogTable {
  id: Generated<number>;
  received_at: Timestamp;
  integration_id: number | null;
  route: string;
  method: string;
  status: number;
  reason: string | null;
  /** The sender's address, on routes that record it (USSD). */
  source_address: string | null;
  duration_ms: number;
  content_type: string | null;
  headers: Json<Record<string, string>>;
  body: string | null;
}

export interface WebhookLogSourcesTable {
  source: string;
  window_start: Date;
  rows: number;
}

export interface AdminTokensTable {
  id: Generated<number>;
  token_hash: string;
  label: string | null;
  created_at: Timestamp;
  last_used_at: Date | null;
}

export interface AdminTokenAttemptsTable {
  address: string;
  failures: number;
  window_start: Timestamp;
  locked_until: Date | null;
}

export interface MediaFilesTable {
  id: string;
  integration_id: number | null;
  filename: string;
  content_type: string;
  bytes: Buffer;
  secret: string;
  created_at: Timestamp;
  expires_at: Timestamp;
}

/** ussd_request_v1: one row per USSD request (replicator columns, src/replicators/ussd-request-v1/index.ts). */
export interface UssdRequestV1Table {
  pk: Generated<number>;
  integration_id: number;
  request_id: Generated<string>;
  dedupe_key: string | null;
  gateway: string;
  session_id: string | null;
  kind: string | null;
  turn: Json<unknown> | null;
  raw_body: string | null;
  response_status: number | null;
  response_content_type: string | null;
  response_body: string | null;
  latency_ms: number | null;
  processed_at: Date | null;
  attempts: Generated<number>;
  last_error: string | null;
  failed_at: Date | null;
  replay_of: number | null;
  row_created_at: Timestamp;
  row_updated_at: Timestamp;
  data: Json<unknown>;
}

export interface UssdSessionsTable {
  id: string;
  integration_id: number;
  gateway: string;
  msisdn_hash: string;
  gateway_session: string | null;
  state: Json<unknown> | null;
  status: Generated<'open' | 'closed'>;
  close_reason: string | null;
  hops: Generated<number>;
  last_dedupe: string | null;
  created_at: Timestamp;
  last_hop_at: Timestamp;
  closed_at: Date | null;
  /** Own idle time (WhatsApp sessions); NULL: the USSD session timeout. */
  idle_seconds: number | null;
}

export interface UssdHopCountsTable {
  integration_id: number;
  key: string;
  window_start: Timestamp;
  hops: number;
}

export interface Database {
  service_integrations: ServiceIntegrationsTable;
  admin_tokens: AdminTokensTable;
  admin_token_attempts: AdminTokenAttemptsTable;
  backfill_runs: BackfillRunsTable;
  idempotency_keys: IdempotencyKeysTable;
  webhook_log: WebhookLogTable;
  webhook_log_sources: WebhookLogSourcesTable;
  media_files: MediaFilesTable;
  ussd_request_v1: UssdRequestV1Table;
  ussd_sessions: UssdSessionsTable;
  ussd_hop_counts: UssdHopCountsTable;
}

export type ServiceIntegration = Selectable<ServiceIntegrationsTable>;
export type NewServiceIntegration = Insertable<ServiceIntegrationsTable>;
export type BackfillRun = Selectable<BackfillRunsTable>;
