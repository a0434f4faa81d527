/**
 * The flow document a helpline writes (JSON, or YAML parsed to the same shape), version 1:
 * screens keyed by id (menu, prompt, end, replies), validated with zod. `parseFlow` turns
 * a document into a Flow or throws a FlowError listing each problem with its JSON path.
 * The engine (flow/engine.ts) runs a Flow; this module only describes and checks it.
 */
import { z } from 'zod';

/** A data key: usable in templates as `{key}`. */
const dataKey = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a name of letters, digits and _ (not starting with a digit)');
const screenId = z.string().min(1, 'must not be empty');
const text = z.string({ error: 'must be a string' });
const nonEmpty = text.trim().min(1, 'must not be empty');
const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()], { error: 'must be a string, number, boolean or null' });

const choice = z.strictObject({
  label: nonEmpty,
  next: screenId,
  number: z.string().regex(/^\d+$/, 'must be digits only').optional(),
  set: z.record(dataKey, scalar).optional(),
});

const screen = z.discriminatedUnion(
  'type',
  [
    z.strictObject({ type: z.literal('menu'), title: text, choices: z.array(choice).min(1, 'a menu needs at least one choice') }),
    z.strictObject({
      type: z.literal('prompt'),
      text,
      save: dataKey,
      next: screenId,
      maxLength: z.number().int().positive().default(500),
    }),
    z.strictObject({ type: z.literal('end'), text, action: z.literal('submit_message').optional() }),
    /** A built-in end screen listing the unread counsellor replies (and marking them read). */
    z.strictObject({ type: z.literal('replies'), header: text, empty: text }),
  ],
  { error: 'must be one of menu, prompt, end, replies' },
);

const flowSchema = z
  .strictObject({
    version: z.literal(1, 'unsupported version (expected 1)'),
    start: screenId,
    screens: z.record(screenId, screen),
  })
  .superRefine((flow, ctx) => {
    const known = (id: string): boolean => Object.hasOwn(flow.screens, id);
    const unknown = (id: string, path: (string | number)[]): void =>
      ctx.addIssue({ code: 'custom', message: `unknown screen "${id}"`, path });
    if (!known(flow.start)) unknown(flow.start, ['start']);
    for (const [id, s] of Object.entries(flow.screens)) {
      if (s.type === 'prompt' && !known(s.next)) unknown(s.next, ['screens', id, 'next']);
      if (s.type !== 'menu') continue;
      const seen = new Set<string>();
      s.choices.forEach((c, i) => {
        if (!known(c.next)) unknown(c.next, ['screens', id, 'choices', i, 'next']);
        if (c.number === undefined) return;
        if (seen.has(c.number)) ctx.addIssue({ code: 'custom', message: `number "${c.number}" is used twice`, path: ['screens', id, 'choices', i, 'number'] });
        seen.add(c.number);
      });
    }
  });

export type Flow = z.output<typeof flowSchema>;
export type FlowScreen = Flow['screens'][string];

export interface FlowIssue {
  /** Where in the document, e.g. `screens.main.choices[2].next`; '' for the document itself. */
  path: string;
  message: string;
}

export class FlowError extends Error {
  readonly issues: FlowIssue[];

  constructor(issues: FlowIssue[]) {
    super(issues.map((i) => `${i.path || 'flow'}: ${i.message}`).join('; '));
    this.name = 'FlowError';
    this.issues = issues;
  }
}

function pathOf(path: readonly PropertyKey[]): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i === 0 ? '' : '.'}${String(part)}`)).join('');
}

/** zod's issues as FlowIssues: one per unknown field, and a record key's own reason. */
function issuesOf(issue: z.core.$ZodIssue): FlowIssue[] {
  if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => ({ path: pathOf([...issue.path, key]), message: 'unknown field' }));
  const reason = issue.code === 'invalid_key' ? issue.issues[0]?.message : undefined;
  return [{ path: pathOf(issue.path), message: reason ?? issue.message }];
}

/** The document as a Flow, or a FlowError. References (`start`, `next`) and numbers are checked once the shape is valid. */
export function parseFlow(document: unknown): Flow {
  const result = flowSchema.safeParse(document);
  if (result.success) return result.data;
  throw new FlowError(result.error.issues.flatMap(issuesOf));
}
