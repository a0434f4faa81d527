/**
 * Phone numbers at every boundary go through libphonenumber-js: E.164 out, with a
 * per-integration default region for numbers typed without a country code (WebhookDB's
 * normaliser only knew US numbers). Lenient on purpose (`isPossible`, not `isValid`),
 * so new number ranges and test numbers are not refused.
 */
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';

export function toE164(value: string | null | undefined, region: string): string | null {
  if (!value) return null;
  const parsed = parsePhoneNumberFromString(value.trim(), region.toUpperCase() as CountryCode);
  return parsed?.isPossible() ? parsed.number : null;
}

/** For CLI flags: the E.164 form, or an error saying what was wrong. */
export function parsePhoneFlag(value: string, region: string): string {
  const e164 = toE164(value, region);
  if (!e164) throw new Error(`"${value}" is not a phone number (region ${region}); give it in E.164, e.g. +15551234567`);
  return e164;
}

/** For CLI flags: a two-letter region, upper-cased. */
export function parseRegionFlag(value: string): string {
  if (!/^[A-Za-z]{2}$/.test(value)) throw new Error('a two-letter country code such as US, KE or GH');
  return value.toUpperCase();
}
