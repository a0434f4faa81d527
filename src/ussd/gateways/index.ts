/**
 * The USSD gateway adapters by name, as the route's `:gateway` segment names them. Each turns
 * its gateway's request into a UssdTurn and a Screen into its gateway's answer
 * (docs/ussd-gateways.md; the four added later: docs/guides/ussd-helpline.md).
 */
import { GATEWAYS, type GatewayAdapter, type GatewayName } from '../types.ts';
import { africastalkingAdapter } from './africastalking.ts';
import { arkeselAdapter } from './arkesel.ts';
import { beemAdapter } from './beem.ts';
import { crossswitchAdapter } from './crossswitch.ts';
import { emergentAdapter } from './emergent.ts';
import { hubtelAdapter } from './hubtel.ts';
import { naloAdapter } from './nalo.ts';
import { nsanoAdapter } from './nsano.ts';
import { southpawslAdapter } from './southpawsl.ts';

export const GATEWAY_ADAPTERS: Record<GatewayName, GatewayAdapter> = {
  africastalking: africastalkingAdapter,
  nalo: naloAdapter,
  nsano: nsanoAdapter,
  hubtel: hubtelAdapter,
  arkesel: arkeselAdapter,
  emergent: emergentAdapter,
  beem: beemAdapter,
  southpawsl: southpawslAdapter,
  crossswitch: crossswitchAdapter,
};

const isGatewayName = (name: string): name is GatewayName => (GATEWAYS as readonly string[]).includes(name);

/** Exact, lower-case names only; anything else (including "__proto__") is no gateway. */
export function adapterFor(name: string): GatewayAdapter | undefined {
  return isGatewayName(name) ? GATEWAY_ADAPTERS[name] : undefined;
}
