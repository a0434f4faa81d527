import { describe, expect, it } from 'vitest';
import { isGsm7, septets, toGsm7 } from '../../src/ussd/gsm7.ts';

describe('septets', () => {
  it('counts one septet per basic-table character', () => {
    expect(septets('')).toBe(0);
    expect(septets('Hello')).toBe(5);
    expect(septets('1. Yes\n2. No')).toBe(12);
    // é, Ñ, ß, £, ¥, Ø, Δ are basic-table characters.
    expect(septets('éÑß£¥ØΔ')).toBe(7);
  });

  it('counts two septets per extension-table character', () => {
    expect(septets('€')).toBe(2);
    expect(septets('Price: 5€')).toBe(10); // 8 + 2
    expect(septets('[x]')).toBe(5); // 2 + 1 + 2
    expect(septets('^{}\\[~]|€')).toBe(18);
    expect(septets('\f')).toBe(2);
  });
});

describe('isGsm7', () => {
  it('accepts both tables and rejects everything else', () => {
    expect(isGsm7('café señor Straße £5 €3 [ok] {x}')).toBe(true);
    expect(isGsm7('😀')).toBe(false);
    expect(isGsm7('ẹ')).toBe(false);
    expect(isGsm7('ê')).toBe(false);
    expect(isGsm7('“quoted”')).toBe(false);
    expect(isGsm7('ç')).toBe(false); // only the capital Ç is in the table
    expect(isGsm7('ú')).toBe(false); // ù is, ú is not
  });
});

describe('toGsm7', () => {
  it('keeps text that is already GSM-7, untouched', () => {
    const text = 'é ñ ü à Ä Ø ß £ ¥ € Ç [a] {b} ~ | ^ \\\nnext line  with two spaces';
    expect(toGsm7(text)).toBe(text);
  });

  it('folds accented letters outside GSM-7 to their base letter', () => {
    expect(toGsm7('ẹ ê ô')).toBe('e e o');
    expect(toGsm7('Ọmọ ṣé')).toBe('Omo sé'); // Yoruba: é is GSM-7, so it stays
    expect(toGsm7('ça va, Ça va')).toBe('ca va, Ça va');
    expect(toGsm7('e\u0301')).toBe('é'); // decomposed é composes to the GSM-7 one
  });

  it('straightens typography', () => {
    expect(toGsm7('“Quote” — it’s… ok')).toBe('"Quote" - it\'s... ok');
    expect(toGsm7('a\u00A0b – c')).toBe('a b - c');
  });

  it('removes emoji and what cannot be transliterated, without leaving doubled spaces', () => {
    expect(toGsm7('Hi 😀 there')).toBe('Hi there');
    expect(toGsm7('😀 Hello')).toBe('Hello');
    expect(toGsm7('Hello 😀')).toBe('Hello');
    expect(toGsm7('ok 👍🏽👍🏽 fine')).toBe('ok fine'); // skin tones, several in a row
    expect(toGsm7('line 🙂\nnext')).toBe('line\nnext');
    expect(toGsm7('Привет ok')).toBe('ok');
    expect(toGsm7('😀')).toBe('');
  });

  it('always returns GSM-7', () => {
    const mixed = 'Ẹ ku àárọ̀ 👋 “friend” — €5… ☎️ 116';
    expect(isGsm7(toGsm7(mixed))).toBe(true);
    expect(toGsm7(mixed)).toBe('E ku àaro "friend" - €5... 116'); // á is not in the table, à is;
  });
});
