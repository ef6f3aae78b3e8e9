/** Durations as people write them: `90s`, `15m`, `1h`, `30d`, `2w` (a bare number is seconds). */
const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Milliseconds in `text`, or undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)\s*([smhdw]?)$/.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * UNITS[match[2] || 's']!;
}
