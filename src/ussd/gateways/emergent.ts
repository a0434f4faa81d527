/**
 * Emergent Technology (Ghana; its USSD gateway is also sold as Interpay): Hubtel's request format
 * (`Type` Initiation / Response / Release / Timeout, `Mobile`, `SessionId`, `ServiceCode`,
 * `Message`, `Operator`, `Sequence` when sent), the dial string in the first `Message`. We answer
 * JSON `{Message, Type}`, `Response` to continue and `Release` to end. No first-party document
 * was retrievable; the format and what is unconfirmed are in docs/guides/ussd-helpline.md.
 */
import type { GatewayAdapter, GatewayName, UssdTurn } from '../types.ts';
import { jsonObject } from './fields.ts';
import { hubtelStyleTurn } from './hubtel.ts';

/** An adapter for a gateway that speaks Emergent's format under another name (Cross-switch). */
export function emergentStyleAdapter(name: GatewayName, label: string): GatewayAdapter {
  return {
    name,
    pageBudget: 160,
    // Sequence is not documented for these gateways: a numbered hop is still told apart, an unnumbered one by the replay window.
    sequenced: false,

    parse(request, region): UssdTurn {
      return hubtelStyleTurn(jsonObject(request, label), region, name, label, false);
    },

    render(screen) {
      return { status: 200, contentType: 'application/json', body: JSON.stringify({ Message: screen.text, Type: screen.end ? 'Release' : 'Response' }) };
    },
  };
}

export const emergentAdapter = emergentStyleAdapter('emergent', 'Emergent');
