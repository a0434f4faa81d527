/**
 * Cross-switch (Ghana): per the USSD menu library that supports it (ussd-builder), the same
 * request and answer as Emergent Technology. A second source disagrees (it reads Southpawsl's
 * fields); both, and why this one was chosen, are in docs/guides/ussd-helpline.md.
 */
import { emergentStyleAdapter } from './emergent.ts';

export const crossswitchAdapter = emergentStyleAdapter('crossswitch', 'Cross-switch');
