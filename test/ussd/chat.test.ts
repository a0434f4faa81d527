/** The flow engine on a chat platform (ussd/flow/chat.ts): WhatsApp's rendering ladder and how answers are read. */
import { describe, expect, it } from 'vitest';
import { chatMessage, continueChat, startChat } from '../../src/ussd/flow/chat.ts';
import { parseFlow } from '../../src/ussd/flow/engine.ts';

const ctx = { unreadReplies: [], budget: 0 };
const menu = (labels: string[]) => ({ kind: 'menu' as const, title: 'Pick', choices: labels.map((label, i) => ({ key: String(i), label })) });
const flow = parseFlow({
  version: 1,
  start: 'main',
  screens: {
    main: { type: 'menu', title: 'Hi {name}', choices: [{ label: 'Talk', next: 'ask' }, { number: '0', label: 'Exit', next: 'bye' }] },
    ask: { type: 'prompt', text: 'Type it:', save: 'message', next: 'done' },
    done: { type: 'end', text: 'Sent: {message}', action: 'submit_message' },
    bye: { type: 'end', text: 'Bye.' },
  },
});

describe('chatMessage', () => {
  it('≤ 3 short labels: reply buttons; a label over 20 characters: a list instead', () => {
    expect(chatMessage(menu(['Yes', 'No']), 'main')).toEqual({
      type: 'interactive',
      interactive: { type: 'button', body: { text: 'Pick' }, action: { buttons: [{ type: 'reply', reply: { id: '0@main', title: 'Yes' } }, { type: 'reply', reply: { id: '1@main', title: 'No' } }] } },
    });
    const long = chatMessage(menu(['Talk to a counsellor now', 'No']), 'main') as unknown as { interactive: { type: string; action: { sections: { rows: unknown[] }[] } } };
    expect(long.interactive.type).toBe('list');
    expect(long.interactive.action.sections[0]!.rows[0]).toEqual({ id: '0@main', title: 'Talk to a counsellor now' });
  });

  it('more than 10 choices, or a label past a row description (72), as numbered text', () => {
    expect(chatMessage(menu(Array.from({ length: 11 }, (_v, i) => `T${i}`)), 'm')).toEqual({ type: 'text', text: { body: ['Pick', '', ...Array.from({ length: 11 }, (_v, i) => `${i + 1}. T${i}`)].join('\n') } });
    expect(chatMessage(menu(['x'.repeat(73)]), 'm').type).toBe('text');
  });

  it('heads a screen shown again with its notice', () => {
    expect(chatMessage({ kind: 'prompt', text: 'Type it:' }, 'ask', 'Please type an answer.')).toEqual({ type: 'text', text: { body: 'Please type an answer.\nType it:' } });
  });
});

describe('startChat / continueChat', () => {
  it('reads a tap by id, a typed fixed number, or a label in any case; a tap on another screen is no choice', () => {
    const first = startChat(flow, ctx);
    expect([first.session.screen, first.choseChoice, first.ended]).toEqual(['main', false, false]);
    expect(continueChat(flow, first.session, { id: '0@main', text: 'whatever' }, ctx).session.screen).toBe('ask');
    expect(continueChat(flow, first.session, { id: null, text: '0' }, ctx).session.screen).toBe('bye');
    expect(continueChat(flow, first.session, { id: null, text: ' talk ' }, ctx)).toMatchObject({ choseChoice: true, session: { screen: 'ask' } });
    const stale = continueChat(flow, first.session, { id: '0@elsewhere', text: 'Talked' }, ctx);
    expect([stale.choseChoice, stale.session.screen, (stale.message.interactive as { body: { text: string } }).body.text]).toEqual([false, 'main', 'Invalid choice.\nHi ']);
  });

  it('a prompt saves the message; the submit_message end screen ends with the action', () => {
    const asked = continueChat(flow, startChat(flow, ctx).session, { id: null, text: '1' }, ctx);
    const blank = continueChat(flow, asked.session, { id: null, text: '   ' }, ctx);
    expect([blank.session.screen, blank.message]).toEqual(['ask', { type: 'text', text: { body: 'Please type an answer.\nType it:' } }]);
    const done = continueChat(flow, asked.session, { id: null, text: 'I need help' }, ctx);
    expect(done).toMatchObject({ ended: true, choseChoice: false, actions: [{ type: 'submit_message', data: { message: 'I need help' } }], message: { text: { body: 'Sent: I need help' } } });
  });
});
