/** Pieces several pages use: state badges, tables, empty and error notes. */
import type { ComponentChildren } from 'preact';

const TONES: Record<string, string> = {
  delivered: 'good',
  ready: 'good',
  succeeded: 'good',
  pending: 'wait',
  queued: 'wait',
  running: 'wait',
  failed: 'bad',
  carrier_failed: 'bad',
  skipped: 'muted',
};

export function Badge({ state, label }: { state: string; label?: string }) {
  return (
    <span class={`badge ${TONES[state] ?? 'muted'}`} data-state={state}>
      {label ?? state.replaceAll('_', ' ')}
    </span>
  );
}

export function Table({ head, children, testId }: { head: string[]; children: ComponentChildren; testId?: string }) {
  return (
    <table data-testid={testId}>
      <thead>
        <tr>
          {head.map((h) => (
            <th key={h}>{h}</th>
          ))}
        </tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  );
}

export function Note({ children, tone = 'muted' }: { children: ComponentChildren; tone?: 'muted' | 'bad' }) {
  return <p class={`note ${tone}`}>{children}</p>;
}

export function Loading({ error }: { error: string | undefined }) {
  return error ? <Note tone="bad">{error}</Note> : <Note>Loading…</Note>;
}
