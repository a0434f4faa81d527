/** Small display helpers shared by the pages. */

export function age(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '–';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export function since(at: string | null | undefined): string {
  if (!at) return '–';
  return `${age((Date.now() - new Date(at).getTime()) / 1000)} ago`;
}

export function time(at: string | null | undefined): string {
  if (!at) return '–';
  return new Date(at).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}
