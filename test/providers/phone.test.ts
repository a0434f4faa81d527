/** Caller numbers as USSD gateways send them, read into E.164 (src/providers/phone.ts). */
import { describe, expect, it } from 'vitest';
import { msisdnToE164 } from '../../src/providers/phone.ts';

describe('a USSD gateway caller number (msisdnToE164)', () => {
  it('reads a valid national number in the region, else international digits without their +; never a trunk-prefixed number abroad', () => {
    expect(msisdnToE164('0241234567', 'GH')).toBe('+233241234567');
    expect(msisdnToE164('233241234567', 'GH')).toBe('+233241234567');
    // A caller from another country, and a possible but unassigned test range.
    expect(msisdnToE164('254712345678', 'GH')).toBe('+254712345678');
    expect(msisdnToE164('15550002222', 'US')).toBe('+15550002222');
    expect(msisdnToE164('0712345678', 'US')).toBeNull();
    expect(msisdnToE164('12345', 'GH')).toBeNull();
  });
});
