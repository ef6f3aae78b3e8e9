/**
 * Which builder builds a Dockerfile. `auto` (the default): buildah when the Dockerfile has
 * something the native builder cannot do (RUN above all; also heredocs, remote ADD, unknown
 * instructions or flags: native/support.ts says which) and buildah is installed; else the native
 * builder. A Dockerfile the chosen builder cannot do fails the build with a message naming the
 * instruction and its line.
 */
import { execFile } from 'node:child_process';
import type { Builder } from './builder.js';
import type { Dockerfile } from './dockerfile/index.js';
import { findUnsupported } from './native/index.js';

export type BuilderKind = 'auto' | 'buildah' | 'native';

export interface BuilderSource {
  kind: BuilderKind;
  /** The buildah builder, or undefined when buildah cannot be run here. */
  buildah(): Promise<Builder | undefined>;
  /** The native builder. */
  native(): Promise<Builder>;
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

export async function chooseBuilder(source: BuilderSource, dockerfile: Dockerfile): Promise<Builder> {
  if (source.kind === 'native') return source.native();
  const buildah = await source.buildah();
  if (source.kind === 'buildah') {
    if (!buildah) throw new Error(`builds.builder is buildah, but ${source.buildahCommand} cannot be run here`);
    return buildah;
  }
  const unsupported = findUnsupported(dockerfile);
  if (unsupported && buildah) return buildah;
  // Without buildah, the native builder refuses what it cannot do, naming the instruction and line.
  return source.native();
}
