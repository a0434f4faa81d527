/**
 * A Flow on a chat platform (WhatsApp), purely: the same moves as USSD (flow/engine.ts), one
 * message at a time instead of one hop, without pages. A menu of ≤ 3 choices becomes reply
 * buttons, ≤ 10 a list, more numbered text (flow_chat's ladder); a choice is answered by its
 * button or row id, or by typing its number or its label. The caller (the WhatsApp flow pass)
 * stores the session and sends the message.
 */
import { choiceNumbers } from '../paginate.ts';
import type { ScreenSpec } from '../types.ts';
import { answerPrompt, chooseChoice, EMPTY_ANSWER, enterScreen, INVALID_CHOICE, screenSpec, type Entered, type Flow, type FlowAction, type FlowContext, type FlowSession } from './engine.ts';

/** A client's message as the flow reads it: the id of a tapped button or list row, and its text (or title, or caption). */
export interface ChatInput {
  id: string | null;
  text: string;
}

export interface ChatStep {
  session: FlowSession;
  /** The message to send. */
  message: ChatMessage;
  actions: FlowAction[];
  /** The session is over: an end or replies screen was reached. */
  ended: boolean;
  /** The input picked a menu choice (it meant nothing beyond that); otherwise it was an answer, or not understood. */
  choseChoice: boolean;
}

/** A WhatsApp message body without `to` and `messaging_product`. */
export type ChatMessage = Record<string, unknown> & { type: 'text' | 'interactive' };

/** Meta's limits (whatsapp-cloud-api.md §3.2). */
const BUTTONS = 3;
const ROWS = 10;
const BUTTON_TITLE = 20;
const ROW_TITLE = 24;
const ROW_DESCRIPTION = 72;
const INTERACTIVE_BODY = 1024;
const TEXT_BODY = 4096;
/** What a list's opening button reads (flow_chat's word). */
const LIST_BUTTON = 'Choose';

const cut = (text: string, max: number) => {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
};

/** A choice's button or row id: the screen and the choice's index, so a tap on an older menu is not read as this one's. */
const choiceId = (screen: string, index: number) => `${index}@${screen}`.slice(0, 200);

export function startChat(flow: Flow, ctx: FlowContext): ChatStep {
  return stepOf(enterScreen(flow, flow.start, {}, ctx), ctx, false);
}

export function continueChat(flow: Flow, session: FlowSession, input: ChatInput, ctx: FlowContext): ChatStep {
  const screen = flow.screens[session.screen];
  // The flow was replaced while this session was open: start over, keeping what it collected.
  if (!screen) return stepOf(enterScreen(flow, flow.start, session.data, ctx), ctx, false);
  const again = (notice: string): ChatStep => stepOf({ screen, session, actions: [] }, ctx, false, notice);
  if (screen.type === 'menu') {
    const index = choiceIndex(screen.choices, session.screen, input);
    const next = index === null ? null : chooseChoice(flow, session, index, ctx);
    return next ? stepOf(next, ctx, true) : again(INVALID_CHOICE);
  }
  if (screen.type === 'prompt') {
    const next = answerPrompt(flow, session, input.text, ctx);
    return next ? stepOf(next, ctx, false) : again(EMPTY_ANSWER);
  }
  // An end screen was the last message: whatever comes next starts the flow again (the caller closes ended sessions).
  return stepOf(enterScreen(flow, flow.start, {}, ctx), ctx, false);
}

/** Which choice the input picks: a tapped id of this screen first, else a typed number, else a typed label (any case). */
function choiceIndex(choices: readonly { label: string; number?: string }[], screen: string, input: ChatInput): number | null {
  if (input.id !== null) {
    const byId = choices.findIndex((_c, i) => choiceId(screen, i) === input.id);
    if (byId >= 0) return byId;
  }
  const typed = input.text.trim().replace(/[.)]$/, '').toLowerCase();
  if (typed === '') return null;
  const byNumber = choiceNumbers(choices).indexOf(typed);
  if (byNumber >= 0) return byNumber;
  const byLabel = choices.findIndex((c) => c.label.trim().toLowerCase() === typed);
  return byLabel >= 0 ? byLabel : null;
}

function stepOf(entered: Entered, ctx: FlowContext, choseChoice: boolean, notice?: string): ChatStep {
  const spec = screenSpec(entered.screen, entered.session, ctx);
  const ended = entered.screen.type === 'end' || entered.screen.type === 'replies';
  // Replies are listed whole in one message: they count as read once it is sent.
  const shownReplies = entered.screen.type === 'replies' ? ctx.unreadReplies.map((r) => r.id) : [];
  const actions: FlowAction[] = shownReplies.length > 0 ? [...entered.actions, { type: 'mark_replies_read', ids: shownReplies }] : entered.actions;
  return { session: entered.session, message: chatMessage(spec, entered.session.screen, notice), actions, ended, choseChoice };
}

/** A screen as one WhatsApp message (whatsapp-cloud-api.md §3.2). */
export function chatMessage(spec: ScreenSpec, screen: string, notice?: string): ChatMessage {
  const head = (text: string) => (notice ? `${notice}\n${text}` : text);
  if (spec.kind !== 'menu') return { type: 'text', text: { body: cut(head(spec.text) || '…', TEXT_BODY) } };
  const body = cut(head(spec.title) || LIST_BUTTON, INTERACTIVE_BODY);
  const labels = spec.choices.map((c) => c.label.replace(/\s+/g, ' ').trim());
  const numbers = choiceNumbers(spec.choices);
  const longest = Math.max(...labels.map((l) => Array.from(l).length));
  if (labels.length <= BUTTONS && longest <= BUTTON_TITLE) {
    const buttons = labels.map((title, i) => ({ type: 'reply', reply: { id: choiceId(screen, i), title } }));
    return { type: 'interactive', interactive: { type: 'button', body: { text: body }, action: { buttons } } };
  }
  if (labels.length <= ROWS && longest <= ROW_DESCRIPTION) {
    // A label too long for a row title shows whole in the row's description.
    const rows = labels.map((label, i) => ({
      id: choiceId(screen, i),
      title: cut(label, ROW_TITLE),
      ...(Array.from(label).length > ROW_TITLE ? { description: label } : {}),
    }));
    return { type: 'interactive', interactive: { type: 'list', body: { text: body }, action: { button: LIST_BUTTON, sections: [{ title: 'Options', rows }] } } };
  }
  const lines = labels.map((label, i) => `${numbers[i]}. ${label}`);
  return { type: 'text', text: { body: cut([head(spec.title), '', ...lines].join('\n'), TEXT_BODY) } };
}
