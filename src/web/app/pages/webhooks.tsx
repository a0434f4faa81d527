/** The webhook log: every request to a webhook route, with the reason a rejected one was turned away. */
import { useState } from 'preact/hooks';
import { usePoll } from '../api.ts';
import { Loading, Note, Table } from '../components.tsx';
import { Time } from '../format.tsx';

interface LoggedRequest {
  id: number;
  received_at: string;
  integration_id: number | null;
  route: string;
  method: string;
  status: number;
  reason: string | null;
  duration_ms: number;
}

export function WebhooksPage() {
  const [rejected, setRejected] = useState(false);
  const { data, error } = usePoll<{ requests: LoggedRequest[] }>(`/api/v1/dashboard/webhooks${rejected ? '?rejected=true' : ''}`);
  return (
    <>
      <div class="toolbar">
        <label>
          <input type="checkbox" checked={rejected} onChange={(e) => setRejected(e.currentTarget.checked)} data-testid="rejected-only" /> rejected only
        </label>
      </div>
      {!data ? (
        <Loading error={error} />
      ) : data.requests.length === 0 ? (
        <Note>{rejected ? 'No rejected requests.' : 'No webhook requests yet.'}</Note>
      ) : (
        <Table head={['received', 'method', 'route', 'integration', 'status', 'reason', 'ms']} testId="webhooks">
          {data.requests.map((r) => (
            <tr key={r.id} class={r.status >= 400 ? 'rejected' : ''}>
              <td><Time at={r.received_at} /></td>
              <td>{r.method}</td>
              <td>
                <code>{r.route}</code>
              </td>
              <td>{r.integration_id ? `#${r.integration_id}` : ''}</td>
              <td class={r.status >= 400 ? 'bad' : ''}>{r.status}</td>
              <td class="small">{r.reason ?? ''}</td>
              <td data-dynamic>{r.duration_ms.toFixed(1)}</td>
            </tr>
          ))}
        </Table>
      )}
    </>
  );
}
