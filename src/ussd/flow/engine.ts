/**
 * Runs a Flow (flow/schema.ts) purely: the session and the answer in, the next session, what
 * to show and the actions to apply out. USSD (continueFlow, one hop at a time, pages from
 * ussd/paginate.ts) and chat platforms (flow/chat.ts, WhatsApp) share the moves here —
 * entering a screen, choosing, answering — and only render differently. The callers (the
 * ussd_request_v1 hop, the WhatsApp flow pass) do the I/O: loading unread replies, saving
 * the session, submitting messages and marking replies read.
 */
import { interpretInput, renderScreen } from '../paginate.ts';
import type { Screen, ScreenSpec } from '../types.ts';
import type { Flow, FlowScreen } from './schema.ts';

export { FlowError, parseFlow, type Flow, type FlowIssue } from './schema.ts';

export interface FlowSession {
  screen: string;
  page: number;
  data: Record<string, unknown>;
}

export interface FlowContext {
  unreadReplies: { id: string; text: string }[];
  /** Page budget in GSM-7 septets. */
  budget: number;
}

export type FlowAction = { type: 'submit_message'; data: Record<string, unknown> } | { type: 'mark_replies_read'; ids: string[] };

export interface FlowStep {
  session: FlowSession;
  screen: Screen;
  actions: FlowAction[];
  /** The session is over: an end or replies screen's last page was sent. */
  ended: boolean;
}

interface Reply {
  id: string;
  text: string;
}

/**
 * Where a replies screen keeps the replies it listed: they are marked read as it is
 * entered, so later pages must not depend on what is still unread. Not a valid data key
 * (schema.ts), so no flow can collide with it; `$` keys are never submitted.
 */
const REPLIES_KEY = '$replies';

export const INVALID_CHOICE = 'Invalid choice.';
const MORE_ONLY = 'Reply # for more.';
export const EMPTY_ANSWER = 'Please type an answer.';

const isReply = (value: unknown): value is Reply =>
  typeof value === 'object' && value !== null && typeof (value as Reply).id === 'string' && typeof (value as Reply).text === 'string';

const listedReplies = (data: Record<string, unknown>): Reply[] => {
  const value = data[REPLIES_KEY];
  return Array.isArray(value) ? value.filter(isReply) : [];
};

/** The session data a flow collected, without the engine's own `$` keys. */
const submitted = (data: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(data).filter(([key]) => !key.startsWith('$')));

/** `{unread}` is the unread-reply count; any other `{key}` is that saved value, or '' when there is none. */
function fill(template: string, data: Record<string, unknown>, ctx: FlowContext): string {
  return template.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_whole, key: string) => {
    if (key === 'unread') return String(ctx.unreadReplies.length);
    const value = data[key];
    return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : '';
  });
}

function specOf(screen: FlowScreen, data: Record<string, unknown>, ctx: FlowContext): ScreenSpec {
  switch (screen.type) {
    case 'menu':
      return {
        kind: 'menu',
        title: fill(screen.title, data, ctx),
        // The key is the declared index: labels may repeat, and numbers are the paginator's.
        choices: screen.choices.map((c, i) => ({ key: String(i), label: fill(c.label, data, ctx), ...(c.number === undefined ? {} : { number: c.number }) })),
      };
    case 'prompt':
      return { kind: 'prompt', text: fill(screen.text, data, ctx) };
    case 'end':
      return { kind: 'end', text: fill(screen.text, data, ctx) };
    case 'replies': {
      const replies = listedReplies(data);
      // Counsellors' words are shown as written, not read as templates.
      const text = replies.length === 0 ? fill(screen.empty, data, ctx) : [fill(screen.header, data, ctx), ...replies.map((r) => `- ${r.text}`)].join('\n');
      return { kind: 'end', text };
    }
  }
}

function render(screen: FlowScreen, session: FlowSession, ctx: FlowContext, actions: FlowAction[], notice?: string): FlowStep {
  const { screen: page } = renderScreen(specOf(screen, session.data, ctx), session.page, ctx.budget, notice);
  // Replies count as read once their last page is shown, not when the list is entered.
  const shown = listedReplies(session.data);
  const read: FlowAction[] = screen.type === 'replies' && page.end && shown.length > 0 ? [{ type: 'mark_replies_read', ids: shown.map((r) => r.id) }] : [];
  return { session, screen: page, actions: [...actions, ...read], ended: page.end };
}

/** A screen entered, whatever the platform: the session on its first page and the actions due on entering it. */
export interface Entered {
  screen: FlowScreen;
  session: FlowSession;
  actions: FlowAction[];
}

export function enterScreen(flow: Flow, id: string, data: Record<string, unknown>, ctx: FlowContext): Entered {
  const screen = flow.screens[id];
  // parseFlow checked that every `next` and `start` exists.
  if (!screen) throw new Error(`flow has no screen "${id}"`);
  const actions: FlowAction[] = [];
  let entered = data;
  if (screen.type === 'end' && screen.action === 'submit_message') actions.push({ type: 'submit_message', data: submitted(data) });
  if (screen.type === 'replies') {
    const shown = ctx.unreadReplies.map((r) => ({ id: r.id, text: r.text }));
    // Kept in the session: the list must not change under the client while they page through it.
    entered = { ...data, [REPLIES_KEY]: shown };
  }
  return { screen, session: { screen: id, page: 0, data: entered }, actions };
}

/** The menu choice at `index` of the session's screen taken: the screen it leads to, or null when there is no such choice. */
export function chooseChoice(flow: Flow, session: FlowSession, index: number, ctx: FlowContext): Entered | null {
  const screen = flow.screens[session.screen];
  const choice = screen?.type === 'menu' ? screen.choices[index] : undefined;
  return choice ? enterScreen(flow, choice.next, { ...session.data, ...choice.set }, ctx) : null;
}

/** A prompt answered: the screen it leads to, or null when the screen is no prompt or the answer is blank. */
export function answerPrompt(flow: Flow, session: FlowSession, text: string, ctx: FlowContext): Entered | null {
  const screen = flow.screens[session.screen];
  const value = text.trim();
  if (screen?.type !== 'prompt' || !value) return null;
  // Saved as typed (not transliterated): only what is displayed must be GSM-7.
  const saved = Array.from(value).slice(0, screen.maxLength).join('');
  return enterScreen(flow, screen.next, { ...session.data, [screen.save]: saved }, ctx);
}

/** What the session's screen shows, texts filled in, for a platform to render. */
export const screenSpec = (screen: FlowScreen, session: FlowSession, ctx: FlowContext): ScreenSpec => specOf(screen, session.data, ctx);

/** Shows a screen's first page, with the actions due on entering it. */
function enter(flow: Flow, id: string, data: Record<string, unknown>, ctx: FlowContext): FlowStep {
  return shown(enterScreen(flow, id, data, ctx), ctx);
}

const shown = (entered: Entered, ctx: FlowContext): FlowStep => render(entered.screen, entered.session, ctx, entered.actions);

export function startFlow(flow: Flow, ctx: FlowContext, data: Record<string, unknown> = {}): FlowStep {
  return enter(flow, flow.start, data, ctx);
}

export function continueFlow(flow: Flow, session: FlowSession, input: string, ctx: FlowContext): FlowStep {
  const screen = flow.screens[session.screen];
  // The flow was replaced while this session was open: start over, keeping what it collected.
  if (!screen) return startFlow(flow, ctx, session.data);
  const result = interpretInput(specOf(screen, session.data, ctx), session.page, input, ctx.budget);
  const invalid = (notice: string): FlowStep => render(screen, session, ctx, [], notice);
  switch (result.type) {
    case 'page':
      return render(screen, { ...session, page: result.page }, ctx, []);
    case 'invalid': {
      if (screen.type === 'menu') return invalid(INVALID_CHOICE);
      // Text pages before the last take only navigation; an end screen's last page takes nothing more.
      const same = render(screen, session, ctx, []);
      return same.ended ? same : invalid(MORE_ONLY);
    }
    case 'choice': {
      const next = chooseChoice(flow, session, Number(result.key), ctx);
      return next ? shown(next, ctx) : invalid(INVALID_CHOICE);
    }
    case 'text': {
      const next = answerPrompt(flow, session, result.value, ctx);
      return next ? shown(next, ctx) : invalid(EMPTY_ANSWER);
    }
  }
}
