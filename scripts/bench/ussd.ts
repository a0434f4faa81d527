/**
 * 6. USSD hop latency: sessions in Africa's Talking's format against `switchboard start`,
 * `concurrency` at once, each the demo's whole conversation (menu, write, message,
 * consent: four hops). A gateway waits for every answer, so each hop is timed from request
 * to answer and compared with the budget (SWITCHBOARD_USSD_BUDGET_MS).
 */
import { dial } from '../../src/simulators/ussd.ts';
import { latency, round } from './stats.ts';
import type { System } from './system.ts';

export interface UssdResult {
  ussd_sessions: number;
  ussd_hops: number;
  ussd_hop_p50_ms: number;
  ussd_hop_p99_ms: number;
  ussd_hop_max_ms: number;
  ussd_budget_ms: number;
}

export async function measureUssd(system: System, options: { concurrency: number; rounds: number }): Promise<UssdResult> {
  const server = await system.start();
  const url = `${system.publicUrl}/v1/ussd/africastalking/${system.integrations.ussd.opaque_id}`;
  const hops: number[] = [];
  const timed = async <T>(hop: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await hop();
    hops.push(performance.now() - started);
    return result;
  };
  try {
    for (let round = 0; round < options.rounds; round++) {
      await Promise.all(
        Array.from({ length: options.concurrency }, async (_, i) => {
          const msisdn = `+2547${String(round * options.concurrency + i).padStart(8, '0')}`;
          const { session } = await timed(() => dial(url, { gateway: 'africastalking', msisdn }));
          for (const input of ['1', `bench message ${i}`, '1']) {
            const hop = await timed(() => session.send(input));
            if (hop.status !== 200) throw new Error(`USSD hop answered ${hop.status}`);
          }
        }),
      );
    }
  } finally {
    await server.stop();
  }
  const summary = latency(hops);
  return {
    ussd_sessions: options.concurrency * options.rounds,
    ussd_hops: hops.length,
    ussd_hop_p50_ms: round(summary.p50),
    ussd_hop_p99_ms: round(summary.p99),
    ussd_hop_max_ms: round(summary.max),
    ussd_budget_ms: system.config.ussd.budgetMs,
  };
}
