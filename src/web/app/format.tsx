/**
 * How times, ages and provider ids are shown. Each renders in a `data-dynamic` span:
 * values that differ on every run, which the screenshot test masks. Their minimum widths
 * (style.css) keep a longer value from moving the rest of a table.
 */

function ageText(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '–';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** A duration in seconds: "3m 12s". */
export const Age = ({ seconds }: { seconds: number | null | undefined }) => (
  <span data-dynamic class="dyn-age">
    {ageText(seconds)}
  </span>
);

/** How long ago: "12s ago". */
export const Ago = ({ at }: { at: string | null | undefined }) => (
  <span data-dynamic class="dyn-ago">
    {at ? `${ageText((Date.now() - new Date(at).getTime()) / 1000)} ago` : '–'}
  </span>
);

/** A local date and time. */
export const Time = ({ at }: { at: string | null | undefined }) => (
  <span data-dynamic class="dyn-time">
    {at ? new Date(at).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' }) : '–'}
  </span>
);

/** An id minted per run (provider ids, opaque ids, job numbers). */
export const Id = ({ value, code = false }: { value: string | number | null | undefined; code?: boolean }) =>
  code ? (
    <code data-dynamic>{value ?? '–'}</code>
  ) : (
    <span data-dynamic>{value ?? '–'}</span>
  );
