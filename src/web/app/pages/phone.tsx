/**
 * Demo: a client's phone. Text the helpline and read what comes back (the SignalWire
 * simulator's messages to and from this number), or dial the USSD code and walk its menus;
 * or, on the WhatsApp tab, write to the helpline's WhatsApp number and tap the flow's reply
 * buttons and list rows, rendered as buttons; or, on the Chatbot tab, be a client of the
 * RapidPro bot: each message hands the chat over to a counsellor, their replies come back
 * through RapidPro, and the bot can end the chat.
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

/** POST a demo phone route as this number; resolves whether it was accepted, keeping the refusal to show. */
function usePhoneSend(number: string, refresh: () => void) {
  const [error, setError] = useState<string>();
  const send = async (path: string, body: object) => {
    try {
      await api(path, { method: 'POST', body: { from: number, ...body } });
      setError(undefined);
      refresh();
      return true;
    } catch (caught) {
      setError((caught as Error).message);
      return false;
    }
  };
  return { send, error };
}

interface WhatsAppChoice {
  kind: 'button_reply' | 'list_reply';
  id: string;
  title: string;
  description?: string;
}

interface WhatsAppMessage {
  id: string;
  from: 'client' | 'helpline';
  text: string | null;
  buttons?: WhatsAppChoice[];
  list?: { button: string; rows: WhatsAppChoice[] };
  at: string;
}

function WhatsApp({ number }: { number: string }) {
  const { data, refresh } = usePoll<{ helpline: string; messages: WhatsAppMessage[] }>(`/api/v1/demo/phone/whatsapp?number=${encodeURIComponent(number)}`, 1000);
  const [text, setText] = useState('');
  const { send, error } = usePhoneSend(number, refresh);
  const post = (body: { text: string } | { reply: Omit<WhatsAppChoice, 'description'> }) => send('/api/v1/demo/phone/whatsapp', body);
  const choices = (options: WhatsAppChoice[]) => (
    <div class="wa-choices">
      {options.map((o) => (
        <button key={o.id} type="button" class="wa-choice" title={o.description} onClick={() => void post({ reply: { kind: o.kind, id: o.id, title: o.title } })}>
          {o.title}
        </button>
      ))}
    </div>
  );
  const messages = data?.messages ?? [];
  return (
    <section class="card phone-whatsapp">
      <h3>WhatsApp with {data?.helpline ?? 'the helpline'}</h3>
      <ol class="thread" data-testid="phone-whatsapp">
        {messages.map((m) => (
          <li key={m.id} class={`message ${m.from === 'client' ? 'outbound' : 'inbound'}`}>
            <div class="body">{m.text}</div>
            {m.buttons && choices(m.buttons)}
            {m.list && (
              <>
                <div class="small muted">{m.list.button}:</div>
                {choices(m.list.rows)}
              </>
            )}
            <div class="meta small muted">
              <Time at={m.at} />
            </div>
          </li>
        ))}
      </ol>
      {messages.length === 0 && <Note>No messages yet: write anything to get the helpline's menu.</Note>}
      <form
        class="compose"
        onSubmit={(e) => {
          e.preventDefault();
          void post({ text }).then((ok) => ok && setText(''));
        }}
      >
        <input value={text} onInput={(e) => setText(e.currentTarget.value)} placeholder="Type a WhatsApp message" aria-label="WhatsApp text" required />
        <button type="submit">Send on WhatsApp</button>
      </form>
      {error && <Note tone="bad">{error}</Note>}
    </section>
  );
}

interface ChatbotThread {
  handoff: { handoff: number; status: 'open' | 'closed'; closed_by: string | null } | null;
  messages: { id: string; from: 'client' | 'helpline'; text: string; status: string | null; at: string }[];
}

/** RapidPro's statuses of a reply as badge states: delivered or read good, errored or failed bad, else on its way. */
const REPLY_TONES: Record<string, string> = { delivered: 'delivered', read: 'delivered', errored: 'failed', failed: 'failed' };
const ENDED_BY: Record<string, string> = { bot: 'by the bot', counsellor: 'by the counsellor', timeout: 'after a long silence' };

function Chatbot({ number }: { number: string }) {
  const { data, refresh } = usePoll<ChatbotThread>(`/api/v1/demo/phone/chatbot?number=${encodeURIComponent(number)}`, 1000);
  const [text, setText] = useState('');
  const { send: call, error } = usePhoneSend(number, refresh);
  const handoff = data?.handoff;
  const messages = data?.messages ?? [];
  return (
    <section class="card phone-chatbot">
      <h3>Chat with the helpline's bot</h3>
      <p class="small muted" data-testid="chatbot-state">
        {!handoff
          ? 'Not handed over yet: anything you write goes to a counsellor.'
          : handoff.status === 'open'
            ? `Handed over to a counsellor (handoff ${handoff.handoff}).`
            : `Chat ended ${ENDED_BY[handoff.closed_by ?? ''] ?? ''}; writing again starts a new handoff.`}
      </p>
      <ol class="thread" data-testid="phone-chatbot">
        {messages.map((m) => (
          <li key={m.id} class={`message ${m.from === 'client' ? 'outbound' : 'inbound'}`}>
            <div class="body">{m.text}</div>
            <div class="meta small muted">
              <Time at={m.at} /> {m.status && <Badge state={REPLY_TONES[m.status] ?? 'pending'} label={m.status} />}
            </div>
          </li>
        ))}
      </ol>
      {messages.length === 0 && <Note>No messages yet.</Note>}
      <form
        class="compose"
        onSubmit={(e) => {
          e.preventDefault();
          void call('/api/v1/demo/phone/chatbot', { text }).then((ok) => ok && setText(''));
        }}
      >
        <input value={text} onInput={(e) => setText(e.currentTarget.value)} placeholder="Type a message to the bot" aria-label="Chatbot text" required />
        <button type="submit">Send to the bot</button>
      </form>
      {handoff?.status === 'open' && (
        <button type="button" onClick={() => void call('/api/v1/demo/phone/chatbot/close', {})}>
          End the chat (bot)
        </button>
      )}
      {error && <Note tone="bad">{error}</Note>}
    </section>
  );
}

export function PhonePage() {
  const [number, setNumber] = useState('+15550002222');
  const [tab, setTab] = useState<'sms-ussd' | 'whatsapp' | 'chatbot'>('sms-ussd');
  const { data } = usePoll<{ helpline: string; ussd_code: string }>('/api/v1/demo/phone', 60_000);
  return (
    <>
      <div class="toolbar">
        <label>
          This phone's number <input value={number} onInput={(e) => setNumber(e.currentTarget.value.trim())} aria-label="Phone number" />
        </label>
        <div class="tabs" role="tablist">
          <button type="button" role="tab" aria-selected={tab === 'sms-ussd'} onClick={() => setTab('sms-ussd')}>
            SMS and USSD
          </button>
          <button type="button" role="tab" aria-selected={tab === 'whatsapp'} onClick={() => setTab('whatsapp')}>
            WhatsApp
          </button>
          <button type="button" role="tab" aria-selected={tab === 'chatbot'} onClick={() => setTab('chatbot')}>
            Chatbot
          </button>
        </div>
      </div>
      {data && tab === 'sms-ussd' && (
        <div class="cards two">
          <Sms number={number} helpline={data.helpline} />
          <Ussd number={number} code={data.ussd_code} />
        </div>
      )}
      {tab === 'whatsapp' && <WhatsApp number={number} />}
      {tab === 'chatbot' && <Chatbot number={number} />}
    </>
  );
}
