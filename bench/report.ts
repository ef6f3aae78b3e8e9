/** The report: a plain-text table on stdout, and the JSON file with every sample. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { MetricSummary } from './results.js';

function formatValue(value: number | undefined, missing: string | undefined): string {
  if (value === undefined || Number.isNaN(value)) return missing ? 'n/a' : '-';
  const abs = Math.abs(value);
  if (abs >= 1000) return value.toFixed(0);
  if (abs >= 100) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

function formatRatio(summary: MetricSummary): string {
  if (summary.ratio === undefined) return '';
  return `${summary.ratio.toFixed(2)}x (${summary.better} is better)`;
}

function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

/** One block per section; columns: metric, unit, Berth, Distribution, Berth/Distribution. */
export function renderTable(summaries: MetricSummary[], withDistribution: boolean): string {
  const header = ['', 'unit', 'Berth', ...(withDistribution ? ['Distribution', 'Berth/Distribution'] : [])];
  const rows = summaries.map((s) => [
    `  ${s.name}`,
    s.unit,
    formatValue(s.berth, s.missing?.berth),
    ...(withDistribution ? [formatValue(s.distribution, s.missing?.distribution), formatRatio(s)] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length), ...(i === 0 ? summaries.map((s) => s.section.length) : [0])));
  const line = (cells: string[]): string => cells.map((c, i) => pad(c, widths[i]!, i >= 2 && i <= 3)).join('  ').trimEnd();
  const out: string[] = [line(header)];
  let section = '';
  summaries.forEach((summary, index) => {
    if (summary.section !== section) {
      section = summary.section;
      out.push('', summary.section);
    }
    out.push(line(rows[index]!));
  });
  const footnotes = summaries
    .flatMap((s) => Object.entries(s.missing ?? {}).map(([target, why]) => `n/a: ${target}, ${s.name}: ${why}`))
    .filter((note, i, all) => all.indexOf(note) === i);
  if (footnotes.length > 0) out.push('', ...footnotes);
  return out.join('\n');
}

export async function writeJson(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}
