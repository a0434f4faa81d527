import { describe, expect, it } from 'vitest';
import { continueFlow, FlowError, parseFlow, startFlow, type Flow, type FlowContext, type FlowStep } from '../../src/ussd/flow/engine.ts';
import { HELPLINE_FLOW } from '../../src/ussd/flow/helpline.ts';
import { septets } from '../../src/ussd/gsm7.ts';

const ctx = (budget = 160, unreadReplies: FlowContext['unreadReplies'] = []): FlowContext => ({ unreadReplies, budget });

/** Starts the flow and answers each input in turn; every step, first included. */
function walk(flow: Flow, inputs: string[], context = ctx()): FlowStep[] {
  const steps = [startFlow(flow, context)];
  for (const input of inputs) steps.push(continueFlow(flow, steps.at(-1)!.session, input, context));
  return steps;
}

const issuesOf = (document: unknown) => {
  try {
    parseFlow(document);
  } catch (error) {
    if (error instanceof FlowError) return error.issues;
    throw error;
  }
  throw new Error('the flow was accepted');
};

const MAIN = 'Child Helpline\n1. Talk to a counsellor\n2. Read replies (0 new)\n0. Exit';

describe('parseFlow', () => {
  const valid = {
    version: 1,
    start: 'main',
    screens: {
      main: { type: 'menu', title: 'Hi', choices: [{ label: 'Go', next: 'ask' }, { label: 'Oops', next: 'main' }, { label: 'Lost', next: 'nowhere' }] },
      ask: { type: 'prompt', text: 'Name?', save: 'name', next: 'done' },
      done: { type: 'end', text: 'Bye {name}' },
    },
  };

  it('accepts a valid flow and applies defaults', () => {
    const flow = parseFlow({ ...valid, screens: { ...valid.screens, main: { ...valid.screens.main, choices: valid.screens.main.choices.slice(0, 2) } } });
    expect(flow.screens.ask).toEqual({ type: 'prompt', text: 'Name?', save: 'name', next: 'done', maxLength: 500 });
  });

  it('reports an unknown next screen with its JSON path', () => {
    const error = (() => {
      try {
        parseFlow(valid);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(FlowError);
    expect((error as FlowError).issues).toEqual([{ path: 'screens.main.choices[2].next', message: 'unknown screen "nowhere"' }]);
    expect((error as FlowError).message).toBe('screens.main.choices[2].next: unknown screen "nowhere"');
  });

  it('reports every shape problem at once', () => {
    expect(
      issuesOf({
        version: 1,
        start: 'main',
        screens: {
          main: { type: 'menu', title: 'Hi', choices: [{ label: ' ', next: 'main' }, { label: 'B', next: 'main', number: '1a' }, { label: 'C', next: 'main', set: { 'bad-key': 1, ok: [] } }] },
          empty: { type: 'menu', title: 'None', choices: [] },
          ask: { type: 'prompt', text: 'Name?', save: 'name', next: 'main', maxlength: 5 },
          odd: { type: 'form' },
        },
      }),
    ).toEqual([
      { path: 'screens.main.choices[0].label', message: 'must not be empty' },
      { path: 'screens.main.choices[1].number', message: 'must be digits only' },
      { path: 'screens.main.choices[2].set.bad-key', message: 'must be a name of letters, digits and _ (not starting with a digit)' },
      { path: 'screens.main.choices[2].set.ok', message: 'must be a string, number, boolean or null' },
      { path: 'screens.empty.choices', message: 'a menu needs at least one choice' },
      { path: 'screens.ask.maxlength', message: 'unknown field' },
      { path: 'screens.odd.type', message: 'must be one of menu, prompt, end, replies' },
    ]);
  });

  it('checks the start screen, duplicate numbers, prompt targets and the version', () => {
    expect(
      issuesOf({
        version: 1,
        start: 'home',
        screens: {
          main: { type: 'menu', title: 'Hi', choices: [{ label: 'A', next: 'main', number: '0' }, { label: 'B', next: 'main', number: '0' }] },
          ask: { type: 'prompt', text: 'Name?', save: 'name', next: 'gone' },
        },
      }),
    ).toEqual([
      { path: 'start', message: 'unknown screen "home"' },
      { path: 'screens.main.choices[1].number', message: 'number "0" is used twice' },
      { path: 'screens.ask.next', message: 'unknown screen "gone"' },
    ]);
    expect(issuesOf({ ...valid, version: 2 })).toEqual([{ path: 'version', message: 'unsupported version (expected 1)' }]);
    expect(issuesOf(null)).toEqual([{ path: '', message: 'Invalid input: expected object, received null' }]);
  });
});

describe('the helpline flow', () => {
  it('takes a message and the SMS consent, then submits them once', () => {
    const steps = walk(HELPLINE_FLOW, ['1', 'I need help', '1']);
    expect(steps.map((s) => s.screen)).toEqual([
      { text: MAIN, end: false },
      { text: 'Type your message:', end: false },
      { text: 'May a counsellor reply by SMS?\n1. Yes\n2. No', end: false },
      { text: 'Thank you. A counsellor will reply by SMS. You can also read replies when you dial again.', end: true },
    ]);
    expect(steps.map((s) => s.ended)).toEqual([false, false, false, true]);
    expect(steps.map((s) => s.actions)).toEqual([[], [], [], [{ type: 'submit_message', data: { message: 'I need help', sms_consent: true } }]]);
    expect(steps[3]?.session).toEqual({ screen: 'sent_sms', page: 0, data: { message: 'I need help', sms_consent: true } });
  });

  it('promises SMS replies only to a caller who agreed to them', () => {
    const refused = walk(HELPLINE_FLOW, ['1', 'I need help', '2']).at(-1)!;
    expect(refused.screen).toEqual({ text: 'Thank you. A counsellor will read your message. Dial again to read replies.', end: true });
    expect(refused.screen.text).not.toMatch(/SMS/);
  });

  it('saves a typed 0 or # as the message, not as navigation', () => {
    expect(walk(HELPLINE_FLOW, ['1', '0', '2']).at(-1)?.actions).toEqual([{ type: 'submit_message', data: { message: '0', sms_consent: false } }]);
    expect(walk(HELPLINE_FLOW, ['1', ' # ']).at(-1)?.session.data).toEqual({ message: '#' });
  });

  it('shows the unread count and lists the replies, marking them read', () => {
    const context = ctx(160, [
      { id: 'r1', text: 'We read your message. You are brave.' },
      { id: 'r2', text: 'Call 116 any time.' },
    ]);
    const [first, replies] = walk(HELPLINE_FLOW, ['2'], context);
    expect(first?.screen.text).toBe('Child Helpline\n1. Talk to a counsellor\n2. Read replies (2 new)\n0. Exit');
    expect(replies?.screen).toEqual({ text: 'Replies:\n- We read your message. You are brave.\n- Call 116 any time.', end: true });
    expect(replies?.ended).toBe(true);
    expect(replies?.actions).toEqual([{ type: 'mark_replies_read', ids: ['r1', 'r2'] }]);
  });

  it('says when there are no replies, with nothing to mark', () => {
    const [, replies] = walk(HELPLINE_FLOW, ['2']);
    expect(replies?.screen).toEqual({ text: 'No new replies yet.', end: true });
    expect(replies?.actions).toEqual([]);
  });

  it('exits with 0 from the first page', () => {
    const [, bye] = walk(HELPLINE_FLOW, ['0']);
    expect(bye).toMatchObject({ screen: { text: 'Goodbye. Dial again any time.', end: true }, ended: true, actions: [] });
  });
});

describe('invalid input', () => {
  it('repeats the same page with a notice, changing nothing', () => {
    const [first, invalid] = walk(HELPLINE_FLOW, ['9']);
    expect(invalid?.screen).toEqual({ text: `Invalid choice.\n${MAIN}`, end: false });
    expect(invalid?.session).toEqual(first?.session);
    expect(invalid?.actions).toEqual([]);
  });

  it('asks again for an empty answer', () => {
    const steps = walk(HELPLINE_FLOW, ['1', '   ']);
    expect(steps[2]?.screen.text).toBe('Please type an answer.\nType your message:');
    expect(steps[2]?.session).toEqual({ screen: 'message', page: 0, data: {} });
  });
});

describe('pagination on a tiny budget', () => {
  it('pages the main menu, keeping Exit on page 0; a number from any page selects it', () => {
    // 70 septets do not fit 60; page 0 is 53 ("Child Helpline", choice 1, "0. Exit", "# More").
    const steps = walk(HELPLINE_FLOW, ['#', '0', '#', '1', 'x'], ctx(60));
    expect(steps.map((s) => s.screen.text)).toEqual([
      'Child Helpline\n1. Talk to a counsellor\n0. Exit\n# More',
      '2. Read replies (0 new)\n0 Back',
      'Child Helpline\n1. Talk to a counsellor\n0. Exit\n# More',
      '2. Read replies (0 new)\n0 Back',
      // "1" is shown on page 0, and taken on page 1 (issue 16 defect 4).
      'Type your message:',
      'May a counsellor reply by SMS?\n1. Yes\n2. No',
    ]);
    expect(steps.map((s) => s.session.page)).toEqual([0, 1, 0, 1, 0, 0]);
    for (const step of steps) expect(septets(step.screen.text)).toBeLessThanOrEqual(60);
    // "2" from page 1, typed on page 0.
    expect(walk(HELPLINE_FLOW, ['2'], ctx(60)).at(-1)!.screen.text).toBe('No new replies yet.');
  });

  it('says so whenever a choice is invalid, even on a full page', () => {
    const step = walk(HELPLINE_FLOW, ['#', '7'], ctx(60)).at(-1)!;
    expect(step.screen.text).toBe('Invalid choice.\n2. Read replies (0 new)\n0 Back');
    expect(step.session.page).toBe(1);
    // At 40 every page of the main menu is full: the notice still shows.
    for (const inputs of [['9'], ['#', '9'], ['#', '#', '9']]) expect(walk(HELPLINE_FLOW, inputs, ctx(40)).at(-1)!.screen.text).toMatch(/^Invalid choice\./);
  });

  it('lists long replies over several pages, marking them read once their last page is shown', () => {
    const unread = [
      { id: 'r1', text: 'Thank you for telling us. What happened is not your fault.' },
      { id: 'r2', text: 'You can call 116 for free at any time.' },
    ];
    // At 40 the main menu takes 3 pages; "2. Read replies (2 new)" is on the last.
    const first = walk(HELPLINE_FLOW, ['#', '#', '2'], ctx(40, unread)).at(-1)!;
    expect(first.actions).toEqual([]);
    // The list stays as it was entered, whatever the unread replies are on later hops.
    const steps = [first];
    while (!steps.at(-1)!.ended) steps.push(continueFlow(HELPLINE_FLOW, steps.at(-1)!.session, '#', ctx(40)));
    expect(steps.map((s) => s.screen.text)).toEqual([
      // End screens offer "# More", and Back on middle pages.
      'Replies:\n- Thank you for telling\n# More',
      'us. What happened is not\n# More\n0 Back',
      'your fault.\n- You can call\n# More\n0 Back',
      '116 for free at any time.',
    ]);
    expect(steps.map((s) => s.actions)).toEqual([[], [], [], [{ type: 'mark_replies_read', ids: ['r1', 'r2'] }]]);
    expect(steps.map((s) => s.screen.end)).toEqual([false, false, false, true]);
    // Back from a middle page shows the page before, and marks nothing read.
    const back = continueFlow(HELPLINE_FLOW, steps[2]!.session, '0', ctx(40));
    expect([back.screen.text, back.actions]).toEqual(['us. What happened is not\n# More\n0 Back', []]);
  });

  it('pages a long prompt, then takes a typed 0 on its last page as the answer', () => {
    const flow = parseFlow({
      version: 1,
      start: 'age',
      screens: {
        age: { type: 'prompt', text: 'How old are you? Type your age in years, or type 0 if you prefer not to say.', save: 'age', next: 'done' },
        done: { type: 'end', text: 'Thanks.', action: 'submit_message' },
      },
    });
    const steps = walk(flow, ['1', '#', '0', '#', '#', '0'], ctx(40));
    expect(steps.map((s) => s.screen.text)).toEqual([
      'How old are you? Type your age in\n# More', // exactly 40
      'Reply # for more.\nyour age in\n# More', // leading words give way to the notice
      'years, or type 0 if you\n# More\n0 Back',
      'How old are you? Type your age in\n# More', // 0 on a middle page is Back
      'years, or type 0 if you\n# More\n0 Back',
      'prefer not to say.',
      'Thanks.',
    ]);
    expect(steps.at(-1)?.actions).toEqual([{ type: 'submit_message', data: { age: '0' } }]);
  });
});

describe('data and templates', () => {
  const flow = parseFlow({
    version: 1,
    start: 'name',
    screens: {
      name: { type: 'prompt', text: 'Your name?', save: 'name', next: 'topic', maxLength: 5 },
      topic: {
        type: 'menu',
        title: 'Hi {name}, {unread} new. {missing}Topic?',
        choices: [
          { label: 'School', next: 'done', set: { topic: 'school', urgent: false } },
          { label: 'Home', next: 'done', set: { topic: 'home', urgent: true, extra: null } },
        ],
      },
      done: { type: 'end', text: 'Noted, {name}: {topic}.', action: 'submit_message' },
    },
  });

  it('truncates answers to maxLength, fills templates and merges choice data', () => {
    const steps = walk(flow, ['Adébáyọ̀ Ade', '2'], ctx(160, [{ id: 'r1', text: 'hi' }]));
    expect(steps[1]?.screen.text).toBe('Hi Adéba, 1 new. Topic?\n1. School\n2. Home');
    expect(steps[2]?.screen.text).toBe('Noted, Adéba: home.');
    expect(steps[2]?.actions).toEqual([{ type: 'submit_message', data: { name: 'Adébá', topic: 'home', urgent: true, extra: null } }]);
  });

  it('starts with the data given and restarts when the session screen is gone', () => {
    expect(startFlow(flow, ctx(), { name: 'Ama' }).session).toEqual({ screen: 'name', page: 0, data: { name: 'Ama' } });
    const restarted = continueFlow(flow, { screen: 'removed', page: 3, data: { name: 'Ama' } }, '1', ctx());
    expect(restarted.session).toEqual({ screen: 'name', page: 0, data: { name: 'Ama' } });
  });
});
