/**
 * GSM 03.38 (7-bit default alphabet) arithmetic for USSD screens: count septets, test
 * whether a text stays GSM-7, and transliterate what would otherwise force the whole
 * screen into UCS-2 (80 characters instead of 182). See docs/ussd-gateways.md, "Screen length and GSM-7".
 * Pages are measured in septets by ussd/paginate.ts, always on `toGsm7` output.
 */

/** The basic table, in code order 0x00..0x7F without ESC (0x1B). */
const BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
    '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
/** Reached through ESC, so each costs two septets. */
const EXTENSION = new Set('\f^{}\\[~]|€');

/** Common characters that NFKD cannot fold into GSM-7 (typographic punctuation, mostly from phones' autocorrect). */
const REPLACEMENTS: Record<string, string> = {
  '\u2018': "'", '\u2019': "'", '\u201A': "'", '\u201B': "'", '\u2032': "'", '`': "'", '´': "'",
  '\u201C': '"', '\u201D': '"', '\u201E': '"', '\u201F': '"', '\u2033': '"', '«': '"', '»': '"',
  '\u2010': '-', '\u2011': '-', '\u2012': '-', '\u2013': '-', '\u2014': '-', '\u2015': '-', '\u2212': '-', '•': '-',
  '\u00A0': ' ', '\u202F': ' ', '\t': ' ',
  'œ': 'oe', 'Œ': 'OE', 'ł': 'l', 'Ł': 'L', 'đ': 'd', 'Đ': 'D', 'ı': 'i', '×': 'x', '¢': 'c',
};

/** Marks a removed character until the spaces around it are tidied. */
const REMOVED = '\u0000';

const isGsm7Char = (char: string): boolean => BASIC.has(char) || EXTENSION.has(char);

/**
 * Septets the text takes in the GSM 7-bit alphabet: 1 per basic character, 2 per
 * extension character. A character outside GSM-7 counts 1 here; callers that need an
 * honest count pass the text through `toGsm7` first.
 */
export function septets(text: string): number {
  let count = 0;
  for (const char of text) count += EXTENSION.has(char) ? 2 : 1;
  return count;
}

export function isGsm7(text: string): boolean {
  for (const char of text) if (!isGsm7Char(char)) return false;
  return true;
}

/** One character's GSM-7 stand-in, or null when it has none. */
function transliterate(char: string): string | null {
  const replaced = REPLACEMENTS[char];
  if (replaced !== undefined) return replaced;
  // Compatibility decomposition, then drop the marks: ẹ→e, ô→o, ﬁ→fi, full-width A→A, …→...
  const folded = char.normalize('NFKD').replace(/\p{M}/gu, '');
  return folded && isGsm7(folded) ? folded : null;
}

/**
 * Rewrites text so it stays GSM-7: characters already in GSM-7 (é, ñ, ü, à, Ä, Ø, ß, £,
 * ¥, €) are kept, others are transliterated when possible and otherwise removed (emoji,
 * most non-Latin scripts), without leaving doubled spaces or spaces at line edges behind.
 */
export function toGsm7(text: string): string {
  let out = '';
  // NFC first, so a decomposed "e" + U+0301 becomes the GSM-7 é instead of "e".
  for (const char of text.normalize('NFC')) {
    out += isGsm7Char(char) ? char : (transliterate(char) ?? REMOVED);
  }
  if (!out.includes(REMOVED)) return out;
  // A run of removed characters and the spaces around it collapses to one space, or none at a line edge.
  return out.replace(/[ \u0000]*\u0000[ \u0000]*/g, (match: string, offset: number, whole: string) => {
    if (!match.includes(' ')) return '';
    const before = whole[offset - 1];
    const after = whole[offset + match.length];
    const atEdge = before === undefined || before === '\n' || after === undefined || after === '\n';
    return atEdge ? '' : ' ';
  });
}
