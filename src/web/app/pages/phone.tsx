/**
 * Demo: a client's phone. Text the helpline and read what comes back (the SignalWire
 * simulator's messages to and from this number), or dial the USSD code and walk its menus.
 */
import { useState } from 'preact/hooks';
import { api, usePoll } from '../api.ts';
import { Badge, Note } from '../components.tsx';
import { Time } from '../format.tsx';

interface PhoneMessage {
  sid: string;
  from: string;
  to: string;
  body: string | null;
  status: string;
  at: string;
}

function Sms({ number, helpline }: { number: string; helpline: string }) {
  const { data, refresh } = usePoll<{ messages: PhoneMessage[] }>('/api/v1/demo/phone', 1000);
  const [text, setText] = useState('');
  const [error, setError] = useState<string>();
  const thread = (data?.messages ?? []).filter((m) => (m.from === number && m.to === helpline) || m.to === number);
  const send = async (event: Event) => {
    event.preventDefault();
    try {
      await api('/api/v1/demo/phone/sms', { method: 'POST', body: { from: number, body: text } });
      setText('');
      setError(undefined);
      refresh();
    } catch (caught) {
      setError((caught as Error).message);
    }
  };
  return (
    <section class="card phone-sms">
      <h3>SMS with {helpline}</h3>
      <ol class="thread" data-testid="phone-sms">
        {thread.map((m) => (
          <li key={m.sid} class={`message ${m.from === number ? 'outbound' : 'inbound'}`}>
            <div class="body">{m.body}</div>
            <div class="meta small muted">
              <Time at={m.at} /> <Badge state={m.status === 'failed' || m.status === 'undelivered' ? 'failed' : 'delivered'} label={m.status} />
            </div>
          </li>
        ))}
      </ol>
      {thread.length === 0 && <Note>No messages yet.</Note>}
      <form onSubmit={send} class="compose">
        <input value={text} onInput={(e) => setText(e.currentTarget.value)} placeholder="Type an SMS" aria-label="SMS text" required />
        <button type="submit">Send SMS</button>
      </form>
      {error && <Note tone="bad">{error}</Note>}
    </section>
  );
}

function Ussd({ number, code }: { number: string; code: string }) {
  const [session, setSession] = useState<string>();
  const [screen, setScreen] = useState<{ text: string; ended: boolean }>();
  const [input, setInput] = useState('');
  const [error, setError] = useState<string>();
  const hop = async (body: { from: string; session?: string; input?: string }) => {
    try {
      const answer = await api<{ session: string; text: string; ended: boolean }>('/api/v1/demo/phone/ussd', { method: 'POST', body });
      setSession(answer.ended ? undefined : answer.session);
      setScreen({ text: answer.text, ended: answer.ended });
      setInput('');
      setError(undefined);
    } catch (caught) {
      setError((caught as Error).message);
      setSession(undefined);
    }
  };
  return (
    <section class="card phone-ussd">
      <h3>USSD</h3>
      <pre class="ussd-screen" data-testid="ussd-screen">
        {screen ? screen.text : `Dial ${code} to start`}
        {screen?.ended ? '\n\n(session ended)' : ''}
      </pre>
      {session ? (
        <form
          class="compose"
          onSubmit={(e) => {
            e.preventDefault();
            void hop({ from: number, session, input });
          }}
        >
          <input value={input} onInput={(e) => setInput(e.currentTarget.value)} aria-label="USSD reply" placeholder="Reply" />
          <button type="submit">Send</button>
        </form>
      ) : (
        <button type="button" onClick={() => void hop({ from: number })}>
          Dial {code}
        </button>
      )}
      {error && <Note tone="bad">{error}</Note>}
    </section>
  );
}

export function PhonePage() {
  const [number, setNumber] = useState('+15550002222');
  const { data } = usePoll<{ helpline: string; ussd_code: string }>('/api/v1/demo/phone', 60_000);
  return (
    <>
      <div class="toolbar">
        <label>
          This phone's number <input value={number} onInput={(e) => setNumber(e.currentTarget.value.trim())} aria-label="Phone number" />
        </label>
      </div>
      {data && (
        <div class="cards two">
          <Sms number={number} helpline={data.helpline} />
          <Ussd number={number} code={data.ussd_code} />
        </div>
      )}
    </>
  );
}
