/**
 * 2b. WhatsApp ⇄ Front convergence, open loop: the convergence step of convergence.ts over the
 * Front WhatsApp channel. WhatsApp → Front: from the signed Meta webhook's scheduled time to
 * the message's import into the simulated Front inbox; Front → WhatsApp: from the Front
 * `message` request's scheduled time to the Graph API (the WhatsApp simulator) receiving the
 * text. WhatsApp lets a business write freely only within 24 hours of the client's last
 * message, so every client writes once, and that reaches Front, before any step.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { WHATSAPP_CHANNEL_ID } from '../../src/demo/environment.ts';
import { CONVERGENCE_LIMIT_MS, convergenceStep, type ConvergenceLine, type Direction } from './convergence.ts';
import { runCurve, type CurveStep } from './curve.ts';
import { CLIENTS, clientNumber } from './seed.ts';
import type { System } from './system.ts';

export interface WhatsAppConvergenceStep extends CurveStep {
  whatsapp_to_front: Direction;
  front_to_whatsapp: Direction;
  send_lag_p99_ms: number;
}

export interface WhatsAppConvergenceResult {
  /** Offered rate (messages/s each way) → its step. */
  whatsapp_convergence: Record<string, WhatsAppConvergenceStep>;
  whatsapp_convergence_max_rate_per_s: number;
  whatsapp_convergence_stopped?: string;
  whatsapp_convergence_step_s: number;
}

/** The WhatsApp channel's client side: Meta's webhook in, the Graph API receiving text sends (not read marks). */
function whatsAppLine(system: System): ConvergenceLine {
  const { whatsapp } = system;
  let seen = 0;
  return {
    clientWrites: async (client, text) => (await whatsapp.receiveInbound({ from: client.slice(1), type: 'text', fields: { text: { body: text } } }, system.whatsappHook)).status,
    counsellorReplies: async (id, client, text) => (await system.whatsappChannel.message({ id, channelId: WHATSAPP_CHANNEL_ID, text, to: [client] })).status,
    newSends() {
      const sends: [string, number][] = [];
      for (; seen < whatsapp.requests.length; seen++) {
        const { method, path, body, at } = whatsapp.requests[seen]!;
        const text = (body as { type?: string; text?: { body?: string } } | null)?.text?.body;
        if (method === 'POST' && path.endsWith('/messages') && text !== undefined) sends.push([text, at.getTime()]);
      }
      return sends;
    },
  };
}

/** Every client writes once (opening its 24-hour window), `parallel` at a time; resolves when all reached Front. */
async function openWindows(system: System, parallel: number, waitS: number): Promise<void> {
  const line = whatsAppLine(system);
  const texts = new Set(Array.from({ length: CLIENTS }, (_, i) => `hello ${i}`));
  for (let i = 0; i < CLIENTS; i += parallel) {
    const statuses = await Promise.all(Array.from({ length: Math.min(parallel, CLIENTS - i) }, (_, k) => line.clientWrites(clientNumber(i + k, CLIENTS), `hello ${i + k}`)));
    const refused = statuses.find((status) => status !== 200);
    if (refused !== undefined) throw new Error(`a client's first WhatsApp message was answered ${refused}`);
  }
  const deadline = Date.now() + waitS * 1000;
  while (system.front.inbox.filter((m) => texts.has(m.body)).length < texts.size) {
    if (Date.now() > deadline) throw new Error(`the clients' first WhatsApp messages did not all reach Front within ${waitS} s`);
    await sleep(100);
  }
}

export async function measureWhatsAppConvergence(system: System, options: { rates: number[]; durationS: number; waitS: number }): Promise<WhatsAppConvergenceResult> {
  const server = await system.start();
  try {
    await openWindows(system, 20, 120);
    const step = async (rate: number, stepOptions: { durationS: number; waitS: number }): Promise<WhatsAppConvergenceStep> => {
      const { toFront, toClient, ...rest } = await convergenceStep(system, whatsAppLine(system), rate, stepOptions);
      return { whatsapp_to_front: toFront, front_to_whatsapp: toClient, ...rest };
    };
    // As for SMS: the fresh process's warm-up is not a rate's latency.
    await step(10, { durationS: 2, waitS: options.waitS });
    const { curve, maxRate, stopped } = await runCurve(options.rates, CONVERGENCE_LIMIT_MS, (rate) => step(rate, options));
    return {
      whatsapp_convergence: curve,
      whatsapp_convergence_max_rate_per_s: maxRate,
      ...(stopped ? { whatsapp_convergence_stopped: stopped } : {}),
      whatsapp_convergence_step_s: options.durationS,
    };
  } finally {
    await server.stop();
  }
}
