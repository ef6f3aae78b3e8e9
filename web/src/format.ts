/** How numbers, times and digests are shown. */

// Shared with the CLI (a module without Node imports).
export { formatBytes } from '../../src/util/bytes';

export function shortDigest(digest: string): string {
  const colon = digest.indexOf(':');
  return colon < 0 ? digest.slice(0, 12) : `${digest.slice(0, colon)}:${digest.slice(colon + 1, colon + 13)}`;
}

export function formatTime(iso: string | undefined): string {
  if (!iso) return '-';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** "5 minutes ago", for recent times; the date beyond a week. */
export function relativeTime(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const seconds = Math.round((now - then) / 1000);
  if (seconds < 45) return 'just now';
  const steps: [number, string][] = [
    [60, 'minute'],
    [3600, 'hour'],
    [86_400, 'day'],
  ];
  for (let i = steps.length - 1; i >= 0; i -= 1) {
    const [size, name] = steps[i]!;
    if (seconds >= size) {
      const n = Math.round(seconds / size);
      if (name === 'day' && n > 7) break;
      return `${n} ${name}${n === 1 ? '' : 's'} ago`;
    }
  }
  return new Date(then).toLocaleDateString();
}

export function duration(startIso: string | undefined, endIso: string | undefined, now = Date.now()): string {
  if (!startIso) return '-';
  const ms = (endIso ? Date.parse(endIso) : now) - Date.parse(startIso);
  if (!(ms >= 0)) return '-';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}
