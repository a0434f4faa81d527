/**
 * Integrations: setup state, the convergence gap (pending, oldest pending, failed and why), last
 * backfill, errors; a chatbot handoff's waiting clients and RapidPro budget; and the job queue.
 */
import type { ComponentChildren } from 'preact';
import { usePoll } from '../api.ts';
import { Badge, Loading, Note } from '../components.tsx';
import { Age, Ago, Id } from '../format.tsx';

interface IntegrationStatus {
  id: number;
  opaque_id: string;
  service: string;
  depends_on: number | null;
  setup: { ready: boolean; state?: string; detail: string };
  rows: number | null;
  pending: number | null;
  failed: number | null;
  oldest_pending_seconds: number | null;
  failure_reasons: { reason: string; rows: number; last_at: string }[];
  last_backfill: { status: string; trigger: string; rows_processed: number; started_at: string; finished_at: string | null; error: string | null } | null;
  /** `shown_on`: the integration that needs the fix (this one, or the one it depends on). */
  error: { code: string; message: string; at: string; fix: string | null; shown_on: number } | null;
  /** What the replicator adds to `status` (statusDetails): here, the chatbot's. */
  details?: {
    unattended?: { conversation_id: string; waiting_minutes: number }[];
    rapidpro?: RapidProUsage;
  };
}

interface RapidProUsage {
  requests_last_hour: number;
  throttled_last_hour: number;
  budget_per_hour: number;
  blocked_until: string | null;
}

interface Overview {
  integrations: IntegrationStatus[];
  jobs: { queued: number; running: number; failed: number };
}

/** What an operator calls each service; the service name stays beside it, for the CLI. */
const LABELS: Record<string, string> = {
  signalwire_message_v1: 'SignalWire SMS',
  front_signalwire_message_channel_app_v1: 'Front SMS channel',
  front_ussd_channel_app_v1: 'Front USSD channel',
  ussd_request_v1: 'USSD service',
  whatsapp_message_v1: 'WhatsApp',
  front_whatsapp_channel_app_v1: 'Front WhatsApp channel',
  chatbot_handoff_v1: 'Chatbot handoff',
  front_chatbot_channel_app_v1: 'Front chatbot channel',
};

function Stat({ label, value, tone }: { label: string; value: ComponentChildren; tone?: string }) {
  return (
    <div class={`stat ${tone ?? ''}`}>
      <span class="value">{value}</span>
      <span class="label">{label}</span>
    </div>
  );
}

/**
 * A chatbot handoff's clients left waiting (listed by its Front channels, oldest first, as
 * `status --json` lists them) and its use of the RapidPro workspace's hourly budget.
 */
function ChatbotStats({ rapidpro, channels }: { rapidpro: RapidProUsage; channels: IntegrationStatus[] }) {
  const waiting = channels.flatMap((c) => c.details?.unattended ?? []);
  const longest = waiting.length > 0 ? Math.max(...waiting.map((w) => w.waiting_minutes)) * 60 : null;
  return (
    <div class="stats" data-testid="chatbot-stats">
      <Stat label="clients waiting" value={waiting.length} tone={waiting.length > 0 ? 'bad' : 'good'} />
      <Stat label="longest wait" value={<Age seconds={longest} />} />
      <Stat
        label={`RapidPro requests, last hour / budget${rapidpro.throttled_last_hour > 0 ? ` (${rapidpro.throttled_last_hour} throttled)` : ''}`}
        value={
          <>
            <span data-dynamic>{rapidpro.requests_last_hour}</span> / {rapidpro.budget_per_hour}
          </>
        }
        tone={rapidpro.blocked_until || rapidpro.requests_last_hour >= rapidpro.budget_per_hour ? 'bad' : ''}
      />
    </div>
  );
}

function IntegrationCard({ integration: i, dependents }: { integration: IntegrationStatus; dependents: IntegrationStatus[] }) {
  const pending = i.pending ?? 0;
  // A failure caused by the integration this one depends on is shown there, once.
  const failing = i.error !== null && i.error.shown_on === i.id;
  return (
    <section class="card" data-testid={`integration-${i.service}`}>
      <header>
        <h3>
          {LABELS[i.service] ?? i.service} <span class="muted">#{i.id}</span>
          <code class="service small muted">{i.service}</code>
        </h3>
        {failing ? <Badge state="failed" label="failing" /> : <Badge state={i.setup.ready ? 'ready' : 'failed'} label={i.setup.ready ? 'ready' : (i.setup.state ?? 'setup needed')} />}
      </header>
      <p class="muted small">
        <Id value={i.opaque_id} />
        {i.depends_on ? ` · depends on #${i.depends_on}` : ''} · {i.setup.detail}
      </p>
      <div class="stats">
        <Stat label="rows" value={i.rows ?? '–'} />
        <Stat label="pending" value={i.pending ?? '–'} tone={pending > 0 ? 'wait' : 'good'} />
        <Stat label="oldest pending" value={<Age seconds={i.oldest_pending_seconds} />} />
        <Stat label="failed" value={i.failed ?? '–'} tone={(i.failed ?? 0) > 0 ? 'bad' : ''} />
      </div>
      {i.details?.rapidpro && <ChatbotStats rapidpro={i.details.rapidpro} channels={dependents} />}
      {i.failure_reasons.length > 0 && (
        <ul class="reasons" data-testid="failure-reasons">
          {i.failure_reasons.map((r) => (
            <li key={r.reason}>
              <strong>{r.rows}×</strong> {r.reason || 'no reason recorded'} <span class="muted">(last <Ago at={r.last_at} />)</span>
            </li>
          ))}
        </ul>
      )}
      <p class="small">
        Last backfill:{' '}
        {i.last_backfill ? (
          <>
            <Badge state={i.last_backfill.status} /> {i.last_backfill.trigger}, {i.last_backfill.rows_processed} rows, <Ago at={i.last_backfill.finished_at ?? i.last_backfill.started_at} />
            {i.last_backfill.error ? <span class="bad"> — <span data-dynamic class="dyn-text">{i.last_backfill.error}</span></span> : null}
          </>
        ) : (
          'never'
        )}
      </p>
      {i.error && failing && (
        <Note tone="bad">
          {i.error.code}: <span data-dynamic class="dyn-text">{i.error.message}</span> (<Ago at={i.error.at} />){i.error.fix && <span class="fix">{i.error.fix}</span>}
        </Note>
      )}
      {i.error && !failing && <Note>Passes wait for #{i.error.shown_on} to be fixed.</Note>}
    </section>
  );
}

export function OverviewPage() {
  const { data, error } = usePoll<Overview>('/api/v1/dashboard/overview');
  if (!data) return <Loading error={error} />;
  const pending = data.integrations.reduce((sum, i) => sum + (i.pending ?? 0), 0);
  const failed = data.integrations.reduce((sum, i) => sum + (i.failed ?? 0), 0);
  return (
    <>
      <div class="stats summary" data-testid="summary">
        <Stat label="integrations" value={data.integrations.length} />
        <Stat label="pending rows" value={pending} tone={pending > 0 ? 'wait' : 'good'} />
        <Stat label="failed rows" value={failed} tone={failed > 0 ? 'bad' : ''} />
        <Stat label="jobs queued / running / failed" value={`${data.jobs.queued} / ${data.jobs.running} / ${data.jobs.failed}`} tone={data.jobs.failed > 0 ? 'bad' : ''} />
      </div>
      {error && <Note tone="bad">{error}</Note>}
      {data.integrations.length === 0 ? (
        <Note>No integrations yet: create one with `npx switchboard integrations create`.</Note>
      ) : (
        <div class="cards">
          {data.integrations.map((i) => (
            <IntegrationCard key={i.id} integration={i} dependents={data.integrations.filter((d) => d.depends_on === i.id)} />
          ))}
        </div>
      )}
    </>
  );
}
