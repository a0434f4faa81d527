/** One conversation's thread across SMS, USSD and WhatsApp: each message with its state, its provider's status and both ids (Front message, SignalWire SID or WhatsApp wamid). */
import { usePoll } from '../api.ts';
import { Badge, Loading, Note } from '../components.tsx';
import { Id, Time } from '../format.tsx';

interface ThreadMessage {
  channel: string;
  entry: string;
  pk: number;
  direction: 'inbound' | 'outbound';
  body: string | null;
  sender: string | null;
  recipient: string | null;
  state: string;
  error_code: string | null;
  error_message: string | null;
  front_message_id: string | null;
  signalwire_sid: string | null;
  sms_status: string | null;
  provider_message_id: string | null;
  transport_status: string | null;
  created_at: string;
  delivered_at: string | null;
}

export function ConversationPage({ id }: { id: string }) {
  const { data, error } = usePoll<{ messages: ThreadMessage[] }>(`/api/v1/dashboard/conversations/${encodeURIComponent(id)}`);
  return (
    <>
      <p>
        <a href="#/conversations">← Conversations</a>
      </p>
      <h2>{id}</h2>
      {!data ? (
        <Loading error={error} />
      ) : data.messages.length === 0 ? (
        <Note>No messages in this conversation.</Note>
      ) : (
        <ol class="thread" data-testid="thread">
          {data.messages.map((m) => (
            <li key={`${m.channel}-${m.pk}`} class={`message ${m.direction}`} data-state={m.state}>
              <div class="meta">
                <span class="tag">{m.entry}</span> {m.direction === 'inbound' ? `from ${m.sender ?? '?'}` : `to ${m.recipient ?? '?'}`} · <Time at={m.created_at} /> <Badge state={m.state} />{' '}
                {m.sms_status && <ProviderBadge status={m.sms_status} label="SMS" />}
                {m.channel === 'whatsapp' && m.direction === 'outbound' && m.transport_status && <ProviderBadge status={m.transport_status} label="WhatsApp" />}
              </div>
              <div class="body">{m.body ?? <em class="muted">(no text)</em>}</div>
              <div class="ids small muted">
                Front: <Id value={m.front_message_id} code /> ·{' '}
                {m.channel === 'whatsapp' ? (
                  <>
                    WhatsApp: <Id value={m.provider_message_id} code />
                  </>
                ) : (
                  <>
                    SignalWire: <Id value={m.signalwire_sid} code />
                  </>
                )}
              </div>
              {(m.error_code || m.error_message) && (
                <div class="small bad">
                  {m.error_code} {m.error_message}
                </div>
              )}
            </li>
          ))}
        </ol>
      )}
    </>
  );
}

/** The provider's status of a message: failed, delivered (or read), else still on its way. */
function ProviderBadge({ status, label }: { status: string; label: string }) {
  const state = ['failed', 'undelivered'].includes(status) ? 'failed' : ['delivered', 'read'].includes(status) ? 'delivered' : 'pending';
  return <Badge state={state} label={`${label} ${status}`} />;
}
