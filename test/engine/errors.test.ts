import fs from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ERRORS } from '../../src/engine/errors.ts';
import { ROOT } from '../helpers/processes.ts';

describe('the error catalogue', () => {
  it('matches docs/errors.md code for code, status for status', async () => {
    const doc = await fs.readFile(`${ROOT}/docs/errors.md`, 'utf8');
    const documented = [...doc.matchAll(/^\| `(SB_ERR_[A-Z_]+)` \| (\d{3}) \| (yes|no) \|/gm)].map((m) => [m[1], Number(m[2]), m[3] === 'yes']);
    const declared = Object.entries(ERRORS).map(([code, e]) => [code, e.status, e.retryable]);
    expect(documented).toEqual(declared);
  });
});
