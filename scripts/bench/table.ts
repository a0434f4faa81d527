/**
 * The printed summary: each figure beside its same-run floor (or reference point), the
 * target from BENCHMARKS.md and whether it was met, then the pending-row lookup's plan.
 * Also the Markdown table pasted into BENCHMARKS.md.
 */
type Results = Record<string, unknown>;

interface Row {
  figure: string;
  ours: string;
  floor: string;
  target: string;
  met: boolean | null;
}

const num = (results: Results, key: string): number => (typeof results[key] === 'number' ? (results[key] as number) : Number.NaN);

function rows(r: Results): Row[] {
  const v = (key: string, unit = '') => (Number.isNaN(num(r, key)) ? 'n/a' : `${num(r, key)}${unit}`);
  const atLeast = (key: string, min: number) => (Number.isNaN(num(r, key)) ? null : num(r, key) >= min);
  const atMost = (key: string, max: number) => (Number.isNaN(num(r, key)) ? null : num(r, key) <= max);
  return [
    { figure: 'Ingest, SignalWire webhooks (req/s; p50/p99)', ours: `${v('ingest_signalwire_rps')}; ${v('ingest_signalwire_p50_ms')}/${v('ingest_signalwire_p99_ms')} ms`, floor: `${v('ingest_baseline_rps')}; ${v('ingest_baseline_p50_ms')}/${v('ingest_baseline_p99_ms')} ms`, target: `ratio ${v('ingest_signalwire_ratio')} ≥ 0.6`, met: atLeast('ingest_signalwire_ratio', 0.6) },
    { figure: 'Ingest, Front messages (req/s; p50/p99)', ours: `${v('ingest_front_rps')}; ${v('ingest_front_p50_ms')}/${v('ingest_front_p99_ms')} ms`, floor: v('ingest_baseline_front_rps'), target: `ratio ${v('ingest_front_ratio')} ≥ 0.5`, met: atLeast('ingest_front_ratio', 0.5) },
    { figure: 'Ingest, WhatsApp webhooks (req/s; p50/p99)', ours: `${v('ingest_whatsapp_rps')}; ${v('ingest_whatsapp_p50_ms')}/${v('ingest_whatsapp_p99_ms')} ms`, floor: `${v('ingest_baseline_whatsapp_rps')}; ${v('ingest_baseline_whatsapp_p50_ms')}/${v('ingest_baseline_whatsapp_p99_ms')} ms`, target: `ratio ${v('ingest_whatsapp_ratio')}; no target (SignalWire's: ≥ 0.6)`, met: null },
    ...convergenceRows(r),
    ...whatsAppConvergenceRows(r),
    { figure: `Drain of ${v('drain_rows')} pending SMS (deliveries/s)`, ours: v('drain_per_s'), floor: `${v('drain_baseline_per_s')} (raw undici)`, target: `ratio ${v('drain_ratio')} ≥ 0.5`, met: atLeast('drain_ratio', 0.5) },
    { figure: `Pass, 100 pending among ${v('scale_rows_small')} vs ${v('scale_rows_large')} rows`, ours: `${v('scale_pass_ms_10k')} vs ${v('scale_pass_ms_1m')} ms`, floor: `lookup ${v('scale_lookup_ms_10k')} vs ${v('scale_lookup_ms_1m')} ms`, target: `ratio ${v('scale_ratio')} ≤ 2`, met: atMost('scale_ratio', 2) },
    { figure: 'Peak RSS, server+worker, drain', ours: v('peak_rss_mb_drain', ' MB'), floor: '', target: '≤ 250 MB', met: atMost('peak_rss_mb_drain', 250) },
    { figure: `Peak RSS, server+worker, polling ${v('poll_messages')} messages`, ours: v('peak_rss_mb_poll', ' MB'), floor: `${v('poll_per_s')} messages/s`, target: '≤ 250 MB', met: atMost('peak_rss_mb_poll', 250) },
    { figure: `USSD capacity, closed loop: ${v('ussd_sessions')} sessions 100 at a time (hops/s; p50/p99/max)`, ours: `${v('ussd_capacity_hops_per_s')}; ${v('ussd_hop_p50_ms')}/${v('ussd_hop_p99_ms')}/${v('ussd_hop_max_ms')} ms, ${v('ussd_failed_sessions')} sessions failed`, floor: `budget ${v('ussd_budget_ms')} ms`, target: 'capacity, no target', met: null },
    ...ussdRows(r, 'ussd_curve', 'ussd_max_rate_per_s', 'worker in the same process', { 100: 100 }),
    ...ussdRows(r, 'ussd_curve_separate_worker', 'ussd_separate_worker_max_rate_per_s', 'worker in its own process', {}),
    { figure: '`switchboard --help` CPU time / `node -e 0`', ours: v('cli_help_cpu_ratio', '×'), floor: `${v('cli_help_cpu_ms')} vs ${v('cli_node_cpu_ms')} ms CPU`, target: '≤ 4×', met: atMost('cli_help_cpu_ratio', 4) },
    { figure: '`switchboard status` on a running install (wall)', ours: v('cli_status_ms', ' ms'), floor: '', target: '≤ 800 ms', met: atMost('cli_status_ms', 800) },
    { figure: `Drain of ${v('drain_rate_limited_rows')} SMS, provider allows ${v('drain_rate_limit_per_s')}/s (deliveries/s; 429s after 1 s)`, ours: `${v('drain_rate_limited_per_s')}; ${v('drain_rate_limited_429s')}`, floor: `${v('drain_rate_limit_per_s')}/s allowed`, target: `ratio ${v('drain_rate_limited_ratio')} ≥ 0.95, 0 × 429`, met: both(atLeast('drain_rate_limited_ratio', 0.95), atMost('drain_rate_limited_429s', 0)) },
  ];
}

const both = (a: boolean | null, b: boolean | null) => (a === null || b === null ? null : a && b);

type Curve = Record<string, Record<string, unknown>>;
const curveOf = (r: Results, key: string): Curve => (r[key] && typeof r[key] === 'object' ? (r[key] as Curve) : {});
const ms = (p: unknown) => {
  const { p50, p99, max } = (p ?? {}) as Record<string, number>;
  return `${p50}/${p99}/${max} ms`;
};
const maxRate = (r: Results, key: string, stoppedKey: string) => {
  const rate = num(r, key);
  const stopped = typeof r[stoppedKey] === 'string' ? `; ${r[stoppedKey] as string}` : '';
  return `${Number.isNaN(rate) ? 'n/a' : rate === 0 ? 'none of the rates offered' : `${rate}/s`}${stopped}`;
};

/** Messages of a convergence direction that failed or never converged, when any did. */
const lost = (d: unknown) => {
  const { failed_requests: failed, not_converged: waiting } = (d ?? {}) as Record<string, number>;
  return failed || waiting ? ` (${failed} failed, ${waiting} not converged)` : '';
};

/** Targets of issue 15 at given rates: convergence p99 (both ways) by offered rate. */
const CONVERGENCE_TARGETS: Record<string, number> = { 100: 250, 200: 1000 };

function convergenceRows(r: Results): Row[] {
  const rows: Row[] = Object.entries(curveOf(r, 'convergence_curve')).map(([rate, step]) => {
    const target = CONVERGENCE_TARGETS[rate];
    return {
      figure: `Convergence at ${rate}/s each way, open loop (SMS → Front; Front → SMS, p50/p99/max)`,
      ours: `${ms(step.sms_to_front)}${lost(step.sms_to_front)}; ${ms(step.front_to_sms)}${lost(step.front_to_sms)}`,
      floor: 'WebhookDB: within 60 s; a few seconds',
      target: target === undefined ? '' : `p99 ≤ ${target} ms`,
      met: target === undefined ? null : (step.p99 as number) <= target,
    };
  });
  const rate = num(r, 'convergence_max_rate_per_s');
  rows.push({ figure: 'Convergence, max rate with p99 ≤ 1 s both ways', ours: maxRate(r, 'convergence_max_rate_per_s', 'convergence_curve_stopped'), floor: '', target: '≥ 400/s', met: Number.isNaN(rate) ? null : rate >= 400 });
  return rows;
}

function whatsAppConvergenceRows(r: Results): Row[] {
  const rows: Row[] = Object.entries(curveOf(r, 'whatsapp_convergence')).map(([rate, step]) => ({
    figure: `WhatsApp convergence at ${rate}/s each way, open loop (WhatsApp → Front; Front → WhatsApp, p50/p99/max)`,
    ours: `${ms(step.whatsapp_to_front)}${lost(step.whatsapp_to_front)}; ${ms(step.front_to_whatsapp)}${lost(step.front_to_whatsapp)}`,
    floor: 'SMS at the same rate, above',
    target: 'reported',
    met: null,
  }));
  if (rows.length > 0) rows.push({ figure: 'WhatsApp convergence, max rate with p99 ≤ 1 s both ways', ours: maxRate(r, 'whatsapp_convergence_max_rate_per_s', 'whatsapp_convergence_stopped'), floor: '', target: 'reported', met: null });
  return rows;
}

function ussdRows(r: Results, key: string, maxKey: string, label: string, targets: Record<string, number>): Row[] {
  const rows: Row[] = Object.entries(curveOf(r, key)).map(([rate, step]) => {
    const target = targets[rate];
    const failed = step.failed_sessions ? ` (${step.failed_sessions as number} sessions failed)` : '';
    return {
      figure: `USSD hop at ${rate} hops/s, open loop, ${label} (p50/p99/max)`,
      ours: `${ms(step)}${failed}`,
      floor: `budget ${num(r, 'ussd_budget_ms')} ms`,
      target: target === undefined ? '' : `p99 ≤ ${target} ms`,
      met: target === undefined ? null : (step.p99 as number) <= target,
    };
  });
  rows.push({ figure: `USSD, max hop rate with p99 ≤ 500 ms, ${label}`, ours: maxRate(r, maxKey, `${key}_stopped`), floor: '', target: 'reported', met: null });
  return rows;
}

const mark = (met: boolean | null) => (met === null ? '—' : met ? 'met' : 'MISSED');

export function table(results: Results): string {
  const header = ['figure', 'ours', 'floor / reference', 'target', ''];
  const body = rows(results).map((row) => [row.figure, row.ours, row.floor, row.target, mark(row.met)]);
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((cells) => cells[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ');
  const plan = typeof results.scale_plan === 'string' ? `\nPending-row lookup at ${num(results, 'scale_rows_large')} rows:\n${results.scale_plan}\n` : '';
  return [line(header), ...body.map(line)].join('\n') + '\n' + plan;
}

export function markdownTable(results: Results): string {
  const body = rows(results).map((row) => `| ${[row.figure, row.ours, row.floor, row.target, mark(row.met)].join(' | ')} |`);
  return ['| figure | ours | floor / reference | target | |', '|---|---|---|---|---|', ...body].join('\n');
}
