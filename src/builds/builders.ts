/**
 * Which builder builds a Dockerfile. `auto` (the default): buildah when the Dockerfile has RUN
 * and buildah is installed, else the native builder. A Dockerfile the chosen builder cannot do
 * fails the build with a message naming the instruction and its line.
 */
import { execFile } from 'node:child_process';
import { type Builder, UnsupportedDockerfileError } from './builder.js';
import type { Instruction } from './dockerfile.js';

export type BuilderKind = 'auto' | 'buildah' | 'native';

export interface BuilderSource {
  kind: BuilderKind;
  /** The buildah builder, or undefined when buildah cannot be run here. */
  buildah(): Promise<Builder | undefined>;
  /** The native builder, or undefined when it is not available. */
  native(): Promise<Builder | undefined>;
  /** The buildah command, for messages. */
  buildahCommand: string;
}

/** Whether `command --version` runs (looked up once per command). */
const installed = new Map<string, Promise<boolean>>();
export function commandWorks(command: string): Promise<boolean> {
  let known = installed.get(command);
  if (!known) {
    known = new Promise((resolve) => execFile(command, ['--version'], { timeout: 15_000 }, (err) => resolve(!err)));
    installed.set(command, known);
  }
  return known;
}

export async function chooseBuilder(source: BuilderSource, instructions: readonly Instruction[]): Promise<Builder> {
  const run = instructions.find((ins) => ins.name === 'RUN');
  if (source.kind === 'buildah' || (source.kind === 'auto' && run)) {
    const buildah = await source.buildah();
    if (buildah) return buildah;
    if (source.kind === 'buildah') throw new Error(`builds.builder is buildah, but ${source.buildahCommand} cannot be run here`);
  }
  const native = await source.native();
  if (native) return native;
  // No native builder: only buildah is left.
  const buildah = await source.buildah();
  if (buildah) return buildah;
  if (run) throw new UnsupportedDockerfileError('RUN', run.line, `needs buildah (${source.buildahCommand} cannot be run here)`);
  throw new Error(`no builder available: ${source.buildahCommand} cannot be run here and the native builder is missing`);
}
