/**
 * What the targets logged (at warn and above) during the run: counts and the first distinct
 * messages, so a warning or error in Berth shows up in the report rather than going unseen.
 */
import { readFile } from 'node:fs/promises';
import type { Target } from './targets.js';

export interface LogSummary {
  lines: number;
  warnings: number;
  errors: number;
  /** Distinct messages (with how often each was seen, and during which scenarios), warnings and errors only. */
  messages: { level: string; message: string; count: number; during: string[] }[];
}

/** When each scenario began (ms since the epoch), in order. */
export type Timeline = { scenario: string; startMs: number }[];

function scenarioAt(timeline: Timeline, time: unknown): string {
  const ms = typeof time === 'string' ? Date.parse(time) : typeof time === 'number' ? time : NaN;
  if (Number.isNaN(ms)) return 'unknown';
  return timeline.filter((t) => t.startMs <= ms).at(-1)?.scenario ?? 'start-up';
}

function levelOf(entry: Record<string, unknown>): string {
  const level = entry.level;
  if (typeof level === 'number') return level >= 50 ? 'error' : level >= 40 ? 'warn' : 'info';
  if (typeof level === 'string') return /^(error|fatal|panic)$/.test(level) ? 'error' : /^warn/.test(level) ? 'warn' : 'info';
  return 'info';
}

export async function summariseLog(target: Target, timeline: Timeline): Promise<LogSummary> {
  const text = await readFile(target.logFile, 'utf8').catch(() => '');
  const summary: LogSummary = { lines: 0, warnings: 0, errors: 0, messages: [] };
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    summary.lines++;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      entry = { level: 'error', msg: line };
    }
    const level = levelOf(entry);
    if (level === 'info') continue;
    if (level === 'warn') summary.warnings++;
    else summary.errors++;
    const detail = entry['err.code'] ?? (entry.err as { message?: string } | undefined)?.message ?? '';
    const message = `${String(entry.msg ?? '')}${detail ? `: ${String(detail)}` : ''}`.slice(0, 300);
    const during = scenarioAt(timeline, entry.time);
    const known = summary.messages.find((m) => m.level === level && m.message === message);
    if (known) {
      known.count++;
      if (!known.during.includes(during)) known.during.push(during);
    } else if (summary.messages.length < 10) {
      summary.messages.push({ level, message, count: 1, during: [during] });
    }
  }
  return summary;
}
