import { describe, expect, it } from 'vitest';
import { septets } from '../../src/ussd/gsm7.ts';
import { interpretInput, renderScreen } from '../../src/ussd/paginate.ts';
import type { ScreenSpec } from '../../src/ussd/types.ts';

/** Every page's text (and end flag) of a spec at a budget. */
function pagesOf(spec: ScreenSpec, budget: number): { text: string; end: boolean }[] {
  const { pages } = renderScreen(spec, 0, budget);
  return Array.from({ length: pages }, (_, page) => renderScreen(spec, page, budget).screen);
}

const menuOf = (title: string, labels: string[], pinned: { key: string; label: string; number: string }[] = []): ScreenSpec => ({
  kind: 'menu',
  title,
  choices: [...labels.map((label, i) => ({ key: `k${i + 1}`, label })), ...pinned],
});

const EXIT = { key: 'exit', label: 'Exit', number: '0' };
// 6 + "1. Family" 9 + "2. School" 9 + "3. Health" 9 + "4. Friends" 10 + "5. Money" 8 + "6. Other" 8 + "0. Exit" 7 + 7 newlines = 73 septets.
const TOPICS = menuOf('Topics', ['Family', 'School', 'Health', 'Friends', 'Money', 'Other'], [EXIT]);

describe('menus', () => {
  it('renders a menu that fits on one page, numbering by position', () => {
    expect(pagesOf(TOPICS, 73)).toEqual([{ text: 'Topics\n1. Family\n2. School\n3. Health\n4. Friends\n5. Money\n6. Other\n0. Exit', end: false }]);
  });

  it('numbers around pinned numbers, keeping the declared order', () => {
    const spec: ScreenSpec = { kind: 'menu', title: 'T', choices: [{ key: 'a', label: 'A' }, { key: 'b', label: 'B', number: '2' }, { key: 'c', label: 'C' }, EXIT] };
    expect(renderScreen(spec, 0, 160).screen.text).toBe('T\n1. A\n2. B\n3. C\n0. Exit');
  });

  it('splits over 3 pages: whole choice lines, positional numbers, nav lines counted, Exit pinned to page 1', () => {
    // Page 0: "Topics\n0. Exit\n# More" is 21; "1. Family" makes 31; "2. School" would make 41.
    // Page 1: "# More\n0 Back" is 13; School 23, Health 33; Friends would make 44.
    // Page 2: the rest with "0 Back" is 35, so it is the last page.
    expect(pagesOf(TOPICS, 40)).toEqual([
      { text: 'Topics\n1. Family\n0. Exit\n# More', end: false },
      { text: '2. School\n3. Health\n# More\n0 Back', end: false },
      { text: '4. Friends\n5. Money\n6. Other\n0 Back', end: false },
    ]);
  });

  it('fills an exactly-full page', () => {
    const [first] = pagesOf(TOPICS, 31);
    expect(first?.text).toBe('Topics\n1. Family\n0. Exit\n# More');
    expect(septets(first?.text ?? '')).toBe(31);
    expect(pagesOf(TOPICS, 30)[0]?.text).toBe('Topics\n0. Exit\n# More');
  });

  it('reads navigation where shown, and any number of the menu on any page', () => {
    const at = (page: number, input: string) => interpretInput(TOPICS, page, input, 40);
    expect(at(0, '1')).toEqual({ type: 'choice', key: 'k1' });
    expect(at(0, ' 1 ')).toEqual({ type: 'choice', key: 'k1' });
    expect(at(0, '0')).toEqual({ type: 'choice', key: 'exit' }); // page 0 has no Back: 0 is the pinned Exit
    expect(at(0, '#')).toEqual({ type: 'page', page: 1 });
    expect(at(0, '2')).toEqual({ type: 'choice', key: 'k2' }); // shown on page 1, taken here too
    expect(at(1, '3')).toEqual({ type: 'choice', key: 'k3' });
    expect(at(1, '0')).toEqual({ type: 'page', page: 0 }); // Back where it is shown, not the pinned Exit
    expect(at(1, '1')).toEqual({ type: 'choice', key: 'k1' });
    expect(at(2, '1')).toEqual({ type: 'choice', key: 'k1' }); // the case: "1" from page 1, typed on the last page
    expect(at(2, '6')).toEqual({ type: 'choice', key: 'k6' });
    expect(at(2, '#')).toEqual({ type: 'invalid' }); // no next page
    expect(at(2, '7')).toEqual({ type: 'invalid' });
    expect(at(2, '0')).toEqual({ type: 'page', page: 1 });
  });

  it('treats 0 on page 0 without a pinned 0 as invalid, and other junk too', () => {
    const spec = menuOf('Pick', ['Yes', 'No']);
    for (const input of ['0', '#', '3', '', 'yes', '1.', '01', '*']) expect(interpretInput(spec, 0, input, 160)).toEqual({ type: 'invalid' });
  });

  it('shortens a choice line too long for any page', () => {
    const spec = menuOf('T', ['a b c d e f g h i j k l m n o p q r s t u v w x y z']);
    const pages = pagesOf(spec, 30);
    expect(pages.map((p) => p.text)).toEqual(['T\n1. a b c d e...']); // 15: a line must fit a page with both nav lines (30 - 14)
  });
});

describe('prompts', () => {
  // 70 septets: 4 pages at 30.
  const PROMPT: ScreenSpec = { kind: 'prompt', text: 'Tell us what is happening. Your words stay private. Type your message:' };

  it('splits at word boundaries; Back only on middle pages; no navigation on the last page', () => {
    expect(pagesOf(PROMPT, 30)).toEqual([
      { text: 'Tell us what is\n# More', end: false },
      { text: 'happening. Your\n# More\n0 Back', end: false },
      { text: 'words stay\n# More\n0 Back', end: false },
      { text: 'private. Type your message:', end: false },
    ]);
  });

  it('navigates on earlier pages and takes anything on the last page as the answer, 0 and # included', () => {
    expect(interpretInput(PROMPT, 0, '#', 30)).toEqual({ type: 'page', page: 1 });
    expect(interpretInput(PROMPT, 0, '0', 30)).toEqual({ type: 'invalid' });
    expect(interpretInput(PROMPT, 0, 'hello', 30)).toEqual({ type: 'invalid' });
    expect(interpretInput(PROMPT, 2, '0', 30)).toEqual({ type: 'page', page: 1 });
    expect(interpretInput(PROMPT, 3, '0', 30)).toEqual({ type: 'text', value: '0' });
    expect(interpretInput(PROMPT, 3, '#', 30)).toEqual({ type: 'text', value: '#' });
    expect(interpretInput({ kind: 'prompt', text: 'Amount?' }, 0, '0', 160)).toEqual({ type: 'text', value: '0' });
  });

  it('fits text of exactly the budget on one page, and an exactly-full first page', () => {
    expect(pagesOf({ kind: 'prompt', text: 'a'.repeat(20) }, 20)).toEqual([{ text: 'a'.repeat(20), end: false }]);
    // 13 + "\n# More" = 20: the space after the 13th letter is where the page ends.
    expect(pagesOf({ kind: 'prompt', text: `${'a'.repeat(13)} ${'b'.repeat(12)}` }, 20).map((p) => p.text)).toEqual([`${'a'.repeat(13)}\n# More`, 'b'.repeat(12)]);
  });

  it('counts extension characters as two septets and cuts a word only when it is longer than a page', () => {
    expect(pagesOf({ kind: 'prompt', text: '€'.repeat(10) }, 20).map((p) => p.text)).toEqual(['€'.repeat(10)]);
    // 22 septets: 6 € (12) + "\n# More" (7) = 19 on page 0, as a 7th would make 21.
    expect(pagesOf({ kind: 'prompt', text: '€'.repeat(11) }, 20).map((p) => p.text)).toEqual([`${'€'.repeat(6)}\n# More`, '€'.repeat(5)]);
  });
});

describe('end screens', () => {
  const END: ScreenSpec = { kind: 'end', text: 'Thank you for writing.\n\n\n\nA counsellor replies by SMS.' };

  it('collapses blank-line runs, breaks at line breaks and trims the next page', () => {
    expect(pagesOf(END, 160)).toEqual([{ text: 'Thank you for writing.\n\nA counsellor replies by SMS.', end: true }]);
    expect(pagesOf(END, 32)).toEqual([
      { text: 'Thank you for writing.\n# More', end: false },
      { text: 'A counsellor replies by SMS.', end: true },
    ]);
  });

  it('offers # More before the last page, and Back on middle pages', () => {
    expect(interpretInput(END, 0, '#', 32)).toEqual({ type: 'page', page: 1 });
    expect(interpretInput(END, 0, '0', 32)).toEqual({ type: 'invalid' });
    expect(interpretInput(END, 1, '0', 32)).toEqual({ type: 'invalid' });
    expect(interpretInput(END, 1, '#', 32)).toEqual({ type: 'invalid' });
    const LONG: ScreenSpec = { kind: 'end', text: 'First part of it.\nSecond part of it.\nThird part of it.' };
    expect(pagesOf(LONG, 32)).toEqual([
      { text: 'First part of it.\n# More', end: false },
      { text: 'Second part of it.\n# More\n0 Back', end: false },
      { text: 'Third part of it.', end: true },
    ]);
    expect(interpretInput(LONG, 1, '0', 32)).toEqual({ type: 'page', page: 0 });
    expect(interpretInput(LONG, 1, '#', 32)).toEqual({ type: 'page', page: 2 });
  });
});

describe('rendering', () => {
  it('transliterates to GSM-7 before measuring', () => {
    const spec: ScreenSpec = { kind: 'menu', title: '“Ẹ kú àbọ̀” 👋', choices: [{ key: 'a', label: 'Ìrànlọ́wọ́ — help' }] };
    expect(renderScreen(spec, 0, 160).screen.text).toBe('"E ku àbo"\n1. Irànlowo - help');
  });

  it('keeps the page count stable and clamps a page index out of range', () => {
    const counts = [0, 1, 2, 7].map((page) => renderScreen(TOPICS, page, 40).pages);
    expect(counts).toEqual([3, 3, 3, 3]);
    expect(renderScreen(TOPICS, 7, 40).screen.text).toBe('4. Friends\n5. Money\n6. Other\n0 Back');
    expect(renderScreen(TOPICS, -1, 40).screen.text).toBe('Topics\n1. Family\n0. Exit\n# More');
  });

  it('puts a notice on top within the budget, dropping leading words of the body when needed', () => {
    expect(renderScreen(menuOf('Pick', ['Yes', 'No']), 0, 160, 'Invalid choice.').screen.text).toBe('Invalid choice.\nPick\n1. Yes\n2. No');
    // 16 more septets on the 31 of page 0 would exceed 40: the title makes room; exactly 40.
    const { screen } = renderScreen(TOPICS, 0, 40, 'Invalid choice.');
    expect(screen.text).toBe('Invalid choice.\n1. Family\n0. Exit\n# More');
    expect(septets(screen.text)).toBe(40);
  });

  it('always shows the notice, dropping choice lines (still selectable) when the page is full', () => {
    // Page 1 at 40 is "2. School\n3. Health\n# More\n0 Back" (33): the notice needs 16 more.
    const { screen } = renderScreen(TOPICS, 1, 40, 'Invalid choice.');
    expect(screen.text).toBe('Invalid choice.\n2. School\n# More\n0 Back');
    expect(septets(screen.text)).toBeLessThanOrEqual(40);
    expect(renderScreen(TOPICS, 1, 15, 'Invalid choice.').screen.text).toBe('Invalid choice.');
  });

  it('never exceeds the budget and shows every choice once, whatever the budget', () => {
    const labels = ['Family problems', 'School and bullying', 'Health', 'Abuse or violence', 'Feelings', 'Friends', 'Money worries', 'Something else'];
    const spec = menuOf('Which topic is closest to what is happening?', labels, [EXIT]);
    for (let budget = 40; budget <= 182; budget++) {
      const pages = pagesOf(spec, budget);
      for (const page of pages) expect(septets(page.text)).toBeLessThanOrEqual(budget);
      const numbers = pages.flatMap((p) => p.text.split('\n').flatMap((line) => /^(\d+)\. /.exec(line)?.[1] ?? []));
      expect(numbers.sort()).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8']);
    }
  });

  it('keeps every word of a long text, in order, within the budget', () => {
    const text = 'You can talk to us about anything: family, school, friends, feelings. Everything you tell us stays private. A counsellor reads every message.';
    // From 30 septets a page has room for the longest word beside both navigation lines.
    for (let budget = 30; budget <= 160; budget++) {
      const pages = pagesOf({ kind: 'end', text }, budget);
      for (const page of pages) expect(septets(page.text)).toBeLessThanOrEqual(budget);
      const words = pages.map((p) => p.text.replace(/\n# More(\n0 Back)?$/, '')).join(' ').split(/\s+/);
      expect(words.join(' ')).toBe(text);
    }
  });
});
