/**
 * Phone numbers at every boundary go through libphonenumber-js: E.164 out, with a
 * per-integration default region for numbers typed without a country code (WebhookDB's
 * normaliser only knew US numbers).
 *
 * A number given with its country code only has to be possible (`isPossible`), so new
 * ranges and test numbers (+1 555 01xx) are not refused. A national number must be valid
 * in the region (`isValid`): that is where a wrong region guesses wrong — `0712345678`
 * read as US would become +10712345678, an SMS recipient that does not exist.
 */
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';

export type ParsedPhone = { e164: string; country: string | undefined } | { problem: string };

export function parsePhone(value: string | null | undefined, region: string): ParsedPhone {
  const text = (value ?? '').trim();
  if (!text) return { problem: 'no phone number given' };
  const international = parsePhoneNumberFromString(text);
  if (international) {
    return international.isPossible() ? { e164: international.number, country: international.country } : { problem: `"${text}" is not a possible phone number` };
  }
  const national = parsePhoneNumberFromString(text, region.toUpperCase() as CountryCode);
  if (!national) return { problem: `"${text}" is not a phone number` };
  if (!national.isValid()) {
    return {
      problem: `"${text}" is not a valid number in region ${region.toUpperCase()} (numbers without a country code are read in the channel's --region, else DEFAULT_PHONE_REGION): give it with its country code, e.g. +254712345678, or set the right region`,
    };
  }
  return { e164: national.number, country: national.country };
}

export function toE164(value: string | null | undefined, region: string): string | null {
  const parsed = parsePhone(value, region);
  return 'e164' in parsed ? parsed.e164 : null;
}

/**
 * A caller's number as a USSD gateway sends it: usually the whole international number,
 * often without its '+'. A national reading valid in the region wins; otherwise digits long
 * enough to carry a country code are read as international (a caller from another country,
 * or a test range that is possible but not assigned).
 */
export function msisdnToE164(value: string | null | undefined, region: string): string | null {
  const national = toE164(value, region);
  if (national) return national;
  const digits = (value ?? '').trim();
  return /^[1-9]\d{9,14}$/.test(digits) ? toE164(`+${digits}`, region) : null;
}

/** For CLI flags: the E.164 form, or an error saying what was wrong. */
export function parsePhoneFlag(value: string, region: string): string {
  const parsed = parsePhone(value, region);
  if ('problem' in parsed) throw new Error(parsed.problem);
  return parsed.e164;
}

/** For CLI flags: a two-letter region, upper-cased. */
export function parseRegionFlag(value: string): string {
  if (!/^[A-Za-z]{2}$/.test(value)) throw new Error('a two-letter country code such as US, KE or GH');
  return value.toUpperCase();
}
