/** Conversations (one per client number, across SMS and USSD), with a search and an "unanswered" filter. */
import { useState } from 'preact/hooks';
import { usePoll } from '../api.ts';
import { Badge, Loading, Note, Table } from '../components.tsx';
import { Age, Ago } from '../format.tsx';

interface ConversationRow {
  conversation_id: string;
  channels: string[];
  last_message_at: string;
  inbound_messages: number;
  outbound_messages: number;
  first_reply_seconds: number | null;
  unanswered: boolean;
  pending: number;
  failed: number;
}

export function ConversationsPage() {
  const [search, setSearch] = useState('');
  const [unanswered, setUnanswered] = useState(false);
  const query = new URLSearchParams({ ...(search ? { q: search } : {}), ...(unanswered ? { unanswered: 'true' } : {}) }).toString();
  const { data, error } = usePoll<{ conversations: ConversationRow[] }>(`/api/v1/dashboard/conversations${query ? `?${query}` : ''}`);
  return (
    <>
      <div class="toolbar">
        <input type="search" placeholder="Search a number" value={search} onInput={(e) => setSearch(e.currentTarget.value)} aria-label="Search conversations" />
        <label>
          <input type="checkbox" checked={unanswered} onChange={(e) => setUnanswered(e.currentTarget.checked)} /> unanswered only
        </label>
      </div>
      {!data ? (
        <Loading error={error} />
      ) : data.conversations.length === 0 ? (
        <Note>No conversations yet.</Note>
      ) : (
        <Table head={['conversation', 'channels', 'last message', 'from client', 'from counsellors', 'first reply', 'state']} testId="conversations">
          {data.conversations.map((c) => (
            <tr key={c.conversation_id}>
              <td>
                <a href={`#/conversations/${encodeURIComponent(c.conversation_id)}`}>{c.conversation_id}</a>
              </td>
              <td>{c.channels.join(', ')}</td>
              <td><Ago at={c.last_message_at} /></td>
              <td>{c.inbound_messages}</td>
              <td>{c.outbound_messages}</td>
              <td><Age seconds={c.first_reply_seconds} /></td>
              <td>
                {c.unanswered && <Badge state="pending" label="unanswered" />} {c.pending > 0 && <Badge state="pending" label={`${c.pending} pending`} />}{' '}
                {c.failed > 0 && <Badge state="failed" label={`${c.failed} failed`} />}
              </td>
            </tr>
          ))}
        </Table>
      )}
    </>
  );
}
