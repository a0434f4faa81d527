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
    { figure: `SMS → Front at ${v('convergence_rate_per_s')}/s (p50/p99/max)`, ours: `${v('convergence_sms_to_front_p50_ms')}/${v('convergence_sms_to_front_p99_ms')}/${v('convergence_sms_to_front_max_ms')} ms, ${v('convergence_sms_to_front_failed_requests')} requests failed`, floor: 'WebhookDB: within 60 s', target: 'p99 ≤ 250 ms', met: atMost('convergence_sms_to_front_p99_ms', 250) },
    { figure: `Front → SMS at ${v('convergence_rate_per_s')}/s (p50/p99/max)`, ours: `${v('convergence_front_to_sms_p50_ms')}/${v('convergence_front_to_sms_p99_ms')}/${v('convergence_front_to_sms_max_ms')} ms, ${v('convergence_front_to_sms_failed_requests')} requests failed`, floor: 'WebhookDB: a few seconds', target: 'p99 ≤ 250 ms', met: atMost('convergence_front_to_sms_p99_ms', 250) },
    { figure: `Drain of ${v('drain_rows')} pending SMS (deliveries/s)`, ours: v('drain_per_s'), floor: `${v('drain_baseline_per_s')} (raw undici)`, target: `ratio ${v('drain_ratio')} ≥ 0.5`, met: atLeast('drain_ratio', 0.5) },
    { figure: `Pass, 100 pending among ${v('scale_rows_small')} vs ${v('scale_rows_large')} rows`, ours: `${v('scale_pass_ms_10k')} vs ${v('scale_pass_ms_1m')} ms`, floor: `lookup ${v('scale_lookup_ms_10k')} vs ${v('scale_lookup_ms_1m')} ms`, target: `ratio ${v('scale_ratio')} ≤ 2`, met: atMost('scale_ratio', 2) },
    { figure: 'Peak RSS, server+worker, drain', ours: v('peak_rss_mb_drain', ' MB'), floor: '', target: '≤ 250 MB', met: atMost('peak_rss_mb_drain', 250) },
    { figure: `Peak RSS, server+worker, polling ${v('poll_messages')} messages`, ours: v('peak_rss_mb_poll', ' MB'), floor: `${v('poll_per_s')} messages/s`, target: '≤ 250 MB', met: atMost('peak_rss_mb_poll', 250) },
    { figure: `USSD hop, ${v('ussd_sessions')} sessions 100 at a time (p50/p99/max)`, ours: `${v('ussd_hop_p50_ms')}/${v('ussd_hop_p99_ms')}/${v('ussd_hop_max_ms')} ms`, floor: `budget ${v('ussd_budget_ms')} ms`, target: 'p99 ≤ 100 ms', met: atMost('ussd_hop_p99_ms', 100) },
  ];
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
