/** The job queue (queued, running, failed, with their last error) and recent backfill passes. */
import { usePoll } from '../api.ts';
import { Badge, Loading, Note, Table } from '../components.tsx';
import { Ago, Id, Time } from '../format.tsx';

interface Job {
  id: number;
  task: string;
  key: string | null;
  run_at: string;
  attempts: number;
  max_attempts: number;
  last_error: string | null;
  state: string;
}

interface BackfillRun {
  id: number;
  integration_id: number;
  status: string;
  trigger: string;
  incremental: boolean;
  rows_processed: number;
  started_at: string;
  finished_at: string | null;
  error: string | null;
}

export function JobsPage() {
  const { data, error } = usePoll<{ counts: { queued: number; running: number; failed: number }; jobs: Job[]; backfills: BackfillRun[] }>('/api/v1/dashboard/jobs');
  if (!data) return <Loading error={error} />;
  return (
    <>
      <h2>
        Jobs <span class="muted small">{data.counts.queued} queued · {data.counts.running} running · {data.counts.failed} failed</span>
      </h2>
      {data.jobs.length === 0 ? (
        <Note>The queue is empty.</Note>
      ) : (
        <Table head={['id', 'task', 'key', 'state', 'run at', 'attempts', 'last error']} testId="jobs">
          {data.jobs.map((j) => (
            <tr key={j.id}>
              <td>
                <Id value={j.id} />
              </td>
              <td>{j.task}</td>
              <td>{j.key ?? ''}</td>
              <td>
                <Badge state={j.state} />
              </td>
              <td><Time at={j.run_at} /></td>
              <td>
                {j.attempts}/{j.max_attempts}
              </td>
              <td class="small">{j.last_error ?? ''}</td>
            </tr>
          ))}
        </Table>
      )}
      <h2>Backfill passes</h2>
      {data.backfills.length === 0 ? (
        <Note>No backfill has run yet.</Note>
      ) : (
        <Table head={['pass', 'integration', 'status', 'trigger', 'rows', 'started', 'took', 'error']} testId="backfills">
          {data.backfills.map((b) => (
            <tr key={b.id}>
              <td>
                <Id value={b.id} />
              </td>
              <td>#{b.integration_id}</td>
              <td>
                <Badge state={b.status} />
              </td>
              <td>
                {b.trigger}
                {b.incremental ? '' : ' (full)'}
              </td>
              <td>{b.rows_processed}</td>
              <td><Ago at={b.started_at} /></td>
              <td data-dynamic>{b.finished_at ? `${new Date(b.finished_at).getTime() - new Date(b.started_at).getTime()} ms` : '…'}</td>
              <td class="small bad">{b.error ?? ''}</td>
            </tr>
          ))}
        </Table>
      )}
    </>
  );
}
