/**
 * Renders a flow's ScreenSpec into pages that fit a gateway's budget in GSM-7 septets,
 * and reads the user's answer against the page they saw. flow_chat's model (positional
 * numbers, `# More` / `0 Back`), minus its faults: septets instead of code points, and
 * `0`/`#` are navigation only where a page offers them, and any number of a menu works on
 * any of its pages (docs/ussd-gateways.md, "Pagination").
 * The layout is a pure function of (spec, budget), so a page index kept in a session stays valid.
 */
import { septets, toGsm7 } from './gsm7.ts';
import type { Screen, ScreenSpec } from './types.ts';

const MORE = '# More';
const BACK = '0 Back';
/** Both navigation lines and one character: smaller configured budgets are raised to this. */
const MIN_BUDGET = septets(`${MORE}\n${BACK}\n`) + 1;

interface NumberedChoice {
  key: string;
  number: string;
  line: string;
  pinned: boolean;
  /** Declared position: choices keep their declared order on every page. */
  position: number;
}

interface Page {
  /** The title (menus, first pages) or a chunk of the text; '' when none. */
  body: string;
  choices: NumberedChoice[];
  more: boolean;
  back: boolean;
}

export type InputResult =
  | { type: 'page'; page: number }
  | { type: 'choice'; key: string }
  | { type: 'text'; value: string }
  | { type: 'invalid' };

/** GSM-7 text with Unix line breaks, no blank-line runs, no trailing spaces on lines. */
function clean(text: string): string {
  return toGsm7(text.replace(/\r\n?/g, '\n'))
    .replace(/ +\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

function compose(page: Page, notice?: string): string {
  const lines = [notice ?? '', page.body, ...page.choices.map((c) => c.line), page.more ? MORE : '', page.back ? BACK : ''];
  return lines.filter((line) => line !== '').join('\n');
}

const cost = (page: Page): number => septets(compose(page));

/**
 * Where to cut `text` so its head fits `room` septets: everything if it fits; else at the
 * last line break (when it keeps the page at least half full), else the last space, else
 * mid-word (a word longer than the room). Whitespace just after the fitting head counts,
 * so a page can be exactly full. At least one character, so pagination always progresses.
 */
function breakPoint(text: string, room: number): number {
  let used = 0;
  let end = 0;
  let lastNewline = -1;
  let lastSpace = -1;
  for (const char of text) {
    used += septets(char);
    if (used > room) break;
    if (char === '\n') lastNewline = end;
    else if (char === ' ') lastSpace = end;
    end += char.length;
  }
  if (end >= text.length) return end;
  // Whitespace right after the fitting head is a break too: an exactly full page.
  if (text[end] === '\n') lastNewline = end;
  else if (text[end] === ' ') lastSpace = end;
  if (lastNewline > 0 && lastNewline * 2 >= end) return lastNewline;
  if (lastSpace > 0) return lastSpace;
  if (lastNewline > 0) return lastNewline;
  return Math.max(end, 1);
}

/** Cuts a line to `room` septets at a word boundary, marking the cut with "...". */
function shorten(line: string, room: number): string {
  if (septets(line) <= room) return line;
  const head = line.slice(0, breakPoint(line, Math.max(1, room - 3))).trimEnd();
  return `${head}...`;
}

/**
 * Numbers choices: pinned ones keep their number; the others count 1, 2, ... in declared
 * order, skipping pinned numbers so no two choices share one. (WhatsApp numbers them the same way.)
 */
export function choiceNumbers(choices: readonly { number?: string }[]): string[] {
  const pinned = new Set(choices.flatMap((c) => (c.number === undefined ? [] : [c.number])));
  let next = 1;
  return choices.map((choice) => {
    if (choice.number !== undefined) return choice.number;
    while (pinned.has(String(next))) next++;
    return String(next++);
  });
}

function numberChoices(spec: Extract<ScreenSpec, { kind: 'menu' }>, budget: number): NumberedChoice[] {
  // A choice line must fit a page that also carries both navigation lines.
  const room = budget - septets(`${MORE}\n${BACK}\n`);
  const numbers = choiceNumbers(spec.choices);
  return spec.choices.map((choice, position) => {
    const number = numbers[position]!;
    const line = shorten(`${number}. ${clean(choice.label).replace(/\n/g, ' ')}`, room);
    return { key: choice.key, number, line, pinned: choice.number !== undefined, position };
  });
}

function layout(spec: ScreenSpec, budget: number): Page[] {
  const choices = spec.kind === 'menu' ? numberChoices(spec, budget) : [];
  let text = clean(spec.kind === 'menu' ? spec.title : spec.text);
  // Menus offer Back on every later page; prompts and end screens on their middle pages only
  // (a prompt's last page takes any answer as text; an end screen's last page ends the session).
  const back = (index: number, last: boolean): boolean => index > 0 && (spec.kind === 'menu' || !last);
  const byPosition = (a: NumberedChoice, b: NumberedChoice): number => a.position - b.position;

  // Pinned choices (e.g. "0. Exit") stay on the first page when they fit there.
  const pinned = choices.filter((c) => c.pinned);
  const keepPinned = pinned.length > 0 && cost({ body: '', choices: pinned, more: true, back: false }) <= budget;
  let queue = keepPinned ? choices.filter((c) => !c.pinned) : choices;

  const pages: Page[] = [];
  for (let index = 0; ; index++) {
    const fixed = index === 0 && keepPinned ? pinned : [];
    const whole: Page = { body: text, choices: [...fixed, ...queue].sort(byPosition), more: false, back: back(index, true) };
    if (cost(whole) <= budget) {
      pages.push(whole);
      return pages;
    }
    const page: Page = { body: '', choices: [...fixed], more: true, back: back(index, false) };
    if (text) {
      const at = breakPoint(text, budget - cost(page) - 1);
      page.body = text.slice(0, at).trimEnd();
      text = text.slice(at).trimStart();
    }
    if (!text) {
      const fits = (choice: NumberedChoice): boolean => cost({ ...page, choices: [...page.choices, choice] }) <= budget;
      let taken = 0;
      while (taken < queue.length && fits(queue[taken]!)) page.choices.push(queue[taken++]!);
      // Progress on budgets too small for even one line: the page carries one over budget.
      if (!page.body && page.choices.length === 0 && queue.length > 0) page.choices.push(queue[taken++]!);
      queue = queue.slice(taken);
    }
    page.choices.sort(byPosition);
    pages.push(page);
  }
}

const clampPage = (page: number, count: number): number => Math.min(Math.max(0, Math.trunc(page) || 0), count - 1);

/**
 * The page with a notice (e.g. "Invalid choice.") on top: when both do not fit, leading
 * words of its body go first, then its last choice lines (their numbers still work: any
 * choice of the menu is taken on any page), then the navigation — the notice always shows.
 */
function withNotice(page: Page, notice: string, budget: number): string {
  let current = { ...page, choices: [...page.choices] };
  for (;;) {
    const text = compose(current, notice);
    if (septets(text) <= budget) return text;
    if (current.body) current = { ...current, body: current.body.replace(/^\S+\s*/, '') };
    else if (current.choices.length > 0) current.choices.pop();
    else if (current.back || current.more) current = { ...current, back: false, more: current.more && current.back };
    else return shorten(notice, budget);
  }
}

/**
 * Page `page` (clamped to the pages there are) of the spec, and how many pages it has.
 * `notice` is shown as a first line, within the budget, without changing the layout.
 * Budgets below MIN_BUDGET (15 septets) are raised to it.
 */
export function renderScreen(spec: ScreenSpec, page: number, budget: number, notice?: string): { screen: Screen; pages: number } {
  const size = Math.max(budget, MIN_BUDGET);
  const pages = layout(spec, size);
  const index = clampPage(page, pages.length);
  const current = pages[index]!;
  const cleanNotice = notice === undefined ? '' : clean(notice);
  const text = cleanNotice ? withNotice(current, cleanNotice, size) : compose(current);
  return { screen: { text, end: spec.kind === 'end' && index === pages.length - 1 }, pages: pages.length };
}

/**
 * What an answer means on the page the user saw: navigation only where the page offers
 * it; otherwise the menu's choice with that number, on whichever page it is shown
 * (flow_chat's behaviour: a number read on page 1 still works on page 3); on a prompt's
 * last page, anything (even "0" or "#") is the answer, returned as typed.
 */
export function interpretInput(spec: ScreenSpec, page: number, input: string, budget: number): InputResult {
  const pages = layout(spec, Math.max(budget, MIN_BUDGET));
  const index = clampPage(page, pages.length);
  const current = pages[index]!;
  if (spec.kind === 'prompt' && index === pages.length - 1) return { type: 'text', value: input };
  const value = input.trim();
  if (value === '#' && current.more) return { type: 'page', page: index + 1 };
  if (value === '0' && current.back) return { type: 'page', page: index - 1 };
  const choice = pages.flatMap((p) => p.choices).find((c) => c.number === value);
  return choice ? { type: 'choice', key: choice.key } : { type: 'invalid' };
}
