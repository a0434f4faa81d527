/**
 * Demo: Front's inbox as the Front simulator holds it. Messages grouped into Front
 * conversations; a counsellor replies from here exactly as Front would call our channel.
 */
import { useState } from 'preact/hooks';
import { api, usePoll } from '../api.ts';
import { Note } from '../components.tsx';
import { Time } from '../format.tsx';

interface InboxMessage {
  uid: string;
  channel: 'sms' | 'ussd' | 'whatsapp' | 'chatbot';
  conversation: string;
  from: string | null;
  body: string;
  at: string;
}

function Reply({ channel, to }: { channel: InboxMessage['channel']; to: string }) {
  const [text, setText] = useState('');
  const [state, setState] = useState<string>();
  const send = async (event: Event) => {
    event.preventDefault();
    try {
      await api('/api/v1/demo/inbox/reply', { method: 'POST', body: { channel, to: [to], text } });
      setText('');
      setState('sent to Switchboard');
    } catch (caught) {
      setState((caught as Error).message);
    }
  };
  return (
    <form onSubmit={send} class="compose">
      <input value={text} onInput={(e) => setText(e.currentTarget.value)} placeholder={`Reply to ${to}`} aria-label={`Reply to ${to}`} required />
      <button type="submit">Reply</button>
      {state && <span class="small muted">{state}</span>}
    </form>
  );
}

export function InboxPage() {
  const { data, error } = usePoll<{ messages: InboxMessage[] }>('/api/v1/demo/inbox', 1000);
  if (!data) return error ? <Note tone="bad">{error}</Note> : <Note>Loading…</Note>;
  const conversations = new Map<string, InboxMessage[]>();
  for (const m of [...data.messages].reverse()) {
    const key = `${m.channel}:${m.conversation}`;
    conversations.set(key, [...(conversations.get(key) ?? []), m]);
  }
  if (conversations.size === 0) return <Note>The Front inbox is empty: text the helpline from the Phone page.</Note>;
  return (
    <div class="cards">
      {[...conversations.entries()].reverse().map(([key, messages]) => {
        const first = messages[0]!;
        return (
          <section class="card" key={key} data-testid="front-conversation" data-conversation={first.conversation}>
            <h3>
              {first.conversation} <span class="tag">{first.channel.toUpperCase()} channel</span>
            </h3>
            <ol class="thread">
              {messages.map((m) => (
                <li key={m.uid} class="message inbound">
                  <div class="body">{m.body}</div>
                  <div class="meta small muted"><Time at={m.at} /></div>
                </li>
              ))}
            </ol>
            <Reply channel={first.channel} to={first.conversation} />
          </section>
        );
      })}
    </div>
  );
}
