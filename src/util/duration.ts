/**
 * Durations as people write them: `250ms`, `90s`, `15m`, `1h`, `30d`, `2w`, `1y` (a bare number is
 * seconds; a year is 365 days).
 */
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 365 * 86_400_000 };

/** Milliseconds in `text`, or undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed.length > 32) return undefined;
  const match = /^(\d{1,15})\s*(ms|[smhdwy]?)$/.exec(trimmed);
  if (!match) return undefined;
  return Number(match[1]) * UNITS[match[2] || 's']!;
}
