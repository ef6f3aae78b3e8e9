/** What every scenario gets: the running targets, the options, where to put numbers and notes. */
import type { BenchOptions } from '../options.js';
import type { Results } from '../results.js';
import type { Target } from '../targets.js';

export interface BenchContext {
  targets: Target[];
  options: BenchOptions;
  results: Results;
  /** Scratch space inside the bench's temp root. */
  scratch: string;
  /** Unique per run: mixed into content that client-side caches could otherwise recognise. */
  runId: string;
  progress(message: string): void;
  /** Something a reader of the report should know (errors seen, skipped parts). */
  note(message: string): void;
}

/** The targets that store what is pushed to them (Berth and Distribution). */
export function registries(ctx: BenchContext): Target[] {
  return ctx.targets.filter((t) => t.role === 'registry');
}

/** MiB (possibly fractional) -> bytes, kept a multiple of 16 (random streams seek in 16-byte blocks). */
export function mibToBytes(mib: number): number {
  return Math.max(16, Math.floor((mib * 1024 * 1024) / 16) * 16);
}

export function formatMiB(mib: number): string {
  return mib >= 1024 && mib % 1024 === 0 ? `${mib / 1024} GiB` : `${mib} MiB`;
}
