/**
 * Measurements as they are taken: one sample per round and target, summarised by the median
 * (or the mean, where samples differ in size on purpose, like images of different sizes).
 * Ratios: Berth / Distribution, Berth with 2 workers / Distribution, and Berth / the bare-Node
 * ceiling; `better` says which way is good for Berth.
 */
import type { TargetName } from './targets.js';

export type Better = 'higher' | 'lower';
/** How a metric's samples become its one value. */
export type Aggregate = 'median' | 'mean';

export interface Metric {
  section: string;
  name: string;
  unit: string;
  better: Better;
  aggregate: Aggregate;
  samples: Partial<Record<TargetName, number[]>>;
  /** Why a target has no value here (unsupported, skipped). */
  missing?: Partial<Record<TargetName, string>>;
}

export interface MetricSummary extends Metric {
  values: Partial<Record<TargetName, number>>;
  /** Berth / Distribution of the summarised values. */
  ratio?: number;
  /** Berth with 2 workers / Distribution. */
  workersRatio?: number;
  /** Berth / the bare-Node ceiling. */
  ceilingRatio?: number;
}

function ratioOf(a: number | undefined, b: number | undefined): number | undefined {
  return a !== undefined && b !== undefined && b !== 0 ? a / b : undefined;
}

export function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile (p in 0..100) of values already sorted ascending. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank - 1, 0), sorted.length - 1)]!;
}

export class Results {
  readonly metrics: Metric[] = [];

  private metric(section: string, name: string, unit: string, better: Better, aggregate: Aggregate = 'median'): Metric {
    let found = this.metrics.find((m) => m.section === section && m.name === name);
    if (!found) {
      found = { section, name, unit, better, aggregate, samples: {} };
      this.metrics.push(found);
    }
    return found;
  }

  add(section: string, name: string, unit: string, better: Better, target: TargetName, value: number, aggregate: Aggregate = 'median'): void {
    (this.metric(section, name, unit, better, aggregate).samples[target] ??= []).push(value);
  }

  /** Records that `target` has no value for this metric, and why. */
  missing(section: string, name: string, unit: string, better: Better, target: TargetName, why: string): void {
    const metric = this.metric(section, name, unit, better);
    (metric.missing ??= {})[target] = why;
  }

  /** One summary per metric, grouped by section in the order sections first appeared. */
  summaries(): MetricSummary[] {
    const sections = [...new Set(this.metrics.map((m) => m.section))];
    const grouped = sections.flatMap((section) => this.metrics.filter((m) => m.section === section));
    return grouped.map((metric) => {
      const summarise = metric.aggregate === 'mean' ? mean : median;
      const values: Partial<Record<TargetName, number>> = {};
      for (const [target, samples] of Object.entries(metric.samples) as [TargetName, number[]][]) if (samples.length > 0) values[target] = summarise(samples);
      return {
        ...metric,
        values,
        ratio: ratioOf(values.berth, values.distribution),
        workersRatio: ratioOf(values.berth2, values.distribution),
        ceilingRatio: ratioOf(values.berth, values.ceiling),
      };
    });
  }
}

/** Rounds in which the targets take turns going first, to spread drift (cache, disk) evenly. */
export function turns<T>(targets: T[], round: number): T[] {
  return round % 2 === 0 ? [...targets] : [...targets].reverse();
}

export const MiB = 1024 * 1024;

export function mibPerSecond(bytes: number, seconds: number): number {
  return bytes / MiB / seconds;
}

export function seconds(startNs: bigint): number {
  return Number(process.hrtime.bigint() - startNs) / 1e9;
}
