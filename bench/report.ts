/** The report: a plain-text table on stdout (also pasted into BENCHMARKS.md), and the JSON file with every sample. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { MetricSummary } from './results.js';
import { LABELS, type TargetName } from './targets.js';

function formatValue(value: number | undefined, missing: string | undefined): string {
  if (value === undefined || Number.isNaN(value)) return missing ? 'n/a' : '-';
  const abs = Math.abs(value);
  if (abs >= 1000) return value.toFixed(0);
  if (abs >= 100) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

function formatRatio(ratio: number | undefined): string {
  return ratio === undefined ? '' : `${ratio.toFixed(2)}x`;
}

function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

const TARGET_ORDER: TargetName[] = ['berth', 'berth2', 'distribution', 'ceiling'];

/**
 * One block per section; columns: metric, unit, which way is better, a value per target that ran,
 * then the ratios: Berth / Distribution, Berth with 2 workers / Distribution, Berth / ceiling.
 */
export function renderTable(summaries: MetricSummary[], present: TargetName[]): string {
  const shown = TARGET_ORDER.filter((t) => present.includes(t));
  const ratios: { title: string; pick(s: MetricSummary): number | undefined }[] = [];
  if (present.includes('distribution')) ratios.push({ title: 'Berth/Distr.', pick: (s) => s.ratio });
  if (present.includes('distribution') && present.includes('berth2')) ratios.push({ title: '2 workers/Distr.', pick: (s) => s.workersRatio });
  if (present.includes('ceiling')) ratios.push({ title: 'Berth/ceiling', pick: (s) => s.ceilingRatio });
  const header = ['', 'unit', 'better', ...shown.map((t) => LABELS[t]), ...ratios.map((r) => r.title)];
  const rows = summaries.map((s) => [
    `  ${s.name}`,
    s.unit,
    s.better,
    ...shown.map((t) => formatValue(s.values[t], s.missing?.[t])),
    ...ratios.map((r) => formatRatio(r.pick(s))),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length), ...(i === 0 ? summaries.map((s) => s.section.length) : [0])));
  const line = (cells: string[]): string => cells.map((c, i) => pad(c, widths[i]!, i >= 3)).join('  ').trimEnd();
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
    .flatMap((s) => Object.entries(s.missing ?? {}).map(([target, why]) => `n/a: ${LABELS[target as TargetName]}, ${s.name}: ${why}`))
    .filter((note, i, all) => all.indexOf(note) === i);
  if (footnotes.length > 0) out.push('', ...footnotes);
  return out.join('\n');
}

export async function writeJson(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}
