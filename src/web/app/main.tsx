/**
 * The dashboard's shell: sign-in with the admin token, a hash router (no server routes to
 * keep in step), and the navigation. Simulator pages appear only in demo mode.
 */
import './style.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, clearToken, getToken, onUnauthorized, setToken, takeTokenFromLink } from './api.ts';
import { Note } from './components.tsx';
import { ConversationPage } from './pages/conversation.tsx';
import { ConversationsPage } from './pages/conversations.tsx';
import { InboxPage } from './pages/inbox.tsx';
import { JobsPage } from './pages/jobs.tsx';
import { OverviewPage } from './pages/overview.tsx';
import { PhonePage } from './pages/phone.tsx';
import { WebhooksPage } from './pages/webhooks.tsx';

function useHashRoute(): string {
  const [route, setRoute] = useState(location.hash.replace(/^#/, '') || '/');
  useEffect(() => {
    const update = () => setRoute(location.hash.replace(/^#/, '') || '/');
    addEventListener('hashchange', update);
    return () => removeEventListener('hashchange', update);
  }, []);
  return route;
}

function SignIn({ onSignedIn, problem }: { onSignedIn(): void; problem: string | undefined }) {
  const [token, setValue] = useState('');
  const [error, setError] = useState(problem);
  const submit = async (event: Event) => {
    event.preventDefault();
    setToken(token.trim());
    try {
      await api('/api/v1/dashboard/session');
      onSignedIn();
    } catch (caught) {
      clearToken();
      setError((caught as Error).message);
    }
  };
  return (
    <main class="signin">
      <h1>Switchboard</h1>
      <form onSubmit={submit}>
        <label>
          Admin token
          <input type="password" value={token} onInput={(e) => setValue(e.currentTarget.value)} autoComplete="off" required />
        </label>
        <button type="submit">Sign in</button>
      </form>
      {error && <Note tone="bad">{error}</Note>}
      <Note>
        Get a token with <code>npx switchboard admin-token</code>, or set <code>SWITCHBOARD_ADMIN_TOKEN</code>.
      </Note>
    </main>
  );
}

const PAGES = [
  { path: '/', label: 'Integrations', demo: false },
  { path: '/conversations', label: 'Conversations', demo: false },
  { path: '/jobs', label: 'Jobs', demo: false },
  { path: '/webhooks', label: 'Webhook log', demo: false },
  { path: '/phone', label: 'Phone (demo)', demo: true },
  { path: '/inbox', label: 'Front inbox (demo)', demo: true },
];

function Page({ route }: { route: string }) {
  if (route.startsWith('/conversations/')) return <ConversationPage id={decodeURIComponent(route.slice('/conversations/'.length))} />;
  switch (route) {
    case '/conversations':
      return <ConversationsPage />;
    case '/jobs':
      return <JobsPage />;
    case '/webhooks':
      return <WebhooksPage />;
    case '/phone':
      return <PhonePage />;
    case '/inbox':
      return <InboxPage />;
    default:
      return <OverviewPage />;
  }
}

function App() {
  const route = useHashRoute();
  const [session, setSession] = useState<{ demo: boolean } | null | undefined>(undefined);
  const [problem, setProblem] = useState<string>();
  const check = () =>
    api<{ demo: boolean }>('/api/v1/dashboard/session')
      .then(setSession)
      .catch((error: Error) => {
        setProblem(getToken() ? error.message : undefined);
        setSession(null);
      });
  useEffect(() => {
    void check();
    // A `#token=` link opened in a tab already showing the page (on the sign-in form) changes only the hash.
    const signInFromLink = () => {
      if (takeTokenFromLink()) void check();
    };
    addEventListener('hashchange', signInFromLink);
    const stop = onUnauthorized(() => setSession(null));
    return () => {
      removeEventListener('hashchange', signInFromLink);
      stop();
    };
  }, []);
  if (session === undefined) return <Note>Loading…</Note>;
  if (session === null) return <SignIn onSignedIn={() => void check()} problem={problem} />;
  const current = route.startsWith('/conversations/') ? '/conversations' : route;
  return (
    <>
      <nav>
        <strong class="brand">Switchboard</strong>
        {PAGES.filter((p) => session.demo || !p.demo).map((p) => (
          <a key={p.path} href={`#${p.path}`} class={current === p.path ? 'active' : ''}>
            {p.label}
          </a>
        ))}
        <button
          type="button"
          class="link"
          onClick={() => {
            clearToken();
            setSession(null);
          }}
        >
          Sign out
        </button>
      </nav>
      <main>
        <Page route={route} />
      </main>
    </>
  );
}

takeTokenFromLink();
render(<App />, document.getElementById('app')!);
