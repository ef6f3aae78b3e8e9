/**
 * One build from start to end: fetch the source at the commit, find the context and the
 * Dockerfile, choose the builder, build and push. Everything on disk lives in one folder per
 * build, removed at the end whatever happened.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { matchesAny } from '../../util/index.js';
import { parseImageReference } from '../native/index.js';
import type { Builder } from '../builder.js';
import { type BuilderSource, chooseBuilder } from '../builders.js';
import { CommandError } from '../buildah/index.js';
import type { BuildsConfig } from '../config.js';
import { parseDockerfile, baseImages } from '../dockerfile/index.js';
import { type GitHubApi, fetchSource, resolveBuildInput, SourceError } from '../github/index.js';
import type { BuildRecord } from './records.js';

export interface BuildContext {
  signal: AbortSignal;
  log: (line: string) => void;
  chose?: (builder: Builder['name']) => void;
}

export interface BuildOutcome {
  digest: string;
  builder: Builder['name'];
}

/** A build that failed because of its source or Dockerfile (GitHub: `failure`, not `error`). */
export class BuildFailure extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BuildFailure';
  }
}

/** Errors that say the source or the Dockerfile is wrong, as opposed to Berth or GitHub failing. */
export function isBuildProblem(err: unknown): boolean {
  if (err instanceof BuildFailure || err instanceof SourceError || err instanceof CommandError) return true;
  const name = (err as Error | undefined)?.name ?? '';
  return ['UnsupportedDockerfileError', 'DockerfileSyntaxError', 'NativeBuildError', 'BaseImageError'].includes(name) || /^Dockerfile line \d+/.test((err as Error | undefined)?.message ?? '');
}

export interface PipelineOptions {
  config: BuildsConfig;
  builders: BuilderSource;
  /** The GitHub client for a linked repository (its token, or the global one). */
  github: (repository: string) => GitHubApi;
  /** Whether registry auth is on (the native builder then checks which bases a build may pull). */
  authOn: boolean;
  /** Repository patterns a linked repository's builds may pull, besides its own image. */
  pullPatterns: (github: string) => string[];
}

export async function runPipeline(record: BuildRecord, context: BuildContext, options: PipelineOptions): Promise<BuildOutcome> {
  const { config } = options;
  const { log, signal } = context;
  await mkdir(config.workDir, { recursive: true, mode: 0o700 });
  const work = await mkdtemp(join(config.workDir, `build-${record.id}-`));
  try {
    const sourceDir = join(work, 'source');
    log(`==> fetching ${record.github} at ${record.sha}`);
    const started = Date.now();
    const unpacked = await fetchSource({
      github: options.github(record.github),
      repository: record.github,
      sha: record.sha,
      dest: sourceDir,
      limits: config.source,
      signal,
    });
    log(`==> unpacked ${unpacked.files} entries, ${unpacked.bytes} bytes in ${Date.now() - started} ms`);
    const input = await resolveBuildInput(sourceDir, record.context, record.dockerfile);
    const dockerfile = parseDockerfile(input.dockerfileText);
    const instructions = dockerfile.instructions;
    const builder = await chooseBuilder(options.builders, dockerfile);
    context.chose?.(builder.name);
    log(`==> building ${record.context || '/'}${record.context ? '/' : ''}${input.dockerfile} with the ${builder.name} builder`);
    if (builder.name === 'native' && options.authOn) checkBases(record, instructions, options);
    const result = await builder.build({
      contextDir: input.contextDir,
      dockerfile: input.dockerfile,
      buildArgs: record.buildArgs,
      repository: record.image,
      tags: record.tags,
      log,
      signal,
    });
    log(`==> pushed ${record.image}@${result.digest} as ${record.tags.join(', ')}`);
    return { digest: result.digest, builder: builder.name };
  } finally {
    await rm(work, { recursive: true, force: true, maxRetries: 3 }).catch((err: Error) => log(`warning: could not remove the build folder: ${err.message}`));
  }
}

/**
 * The native builder reads base images straight from the registry layer, past auth: with auth
 * on, a build may only use Berth images its linked repository is allowed to pull.
 */
function checkBases(record: BuildRecord, instructions: Parameters<typeof baseImages>[0], options: PipelineOptions): void {
  const allowed = [record.image, ...options.pullPatterns(record.github)];
  const from = instructions.filter((ins) => ins.name === 'FROM');
  for (const image of baseImages(instructions, record.buildArgs)) {
    // Every repository the native builder might read it from (it drops the host, and tries
    // `library/x` for a short `x`).
    let names: string[];
    try {
      names = parseImageReference(image).names;
    } catch {
      continue; // the builder reports a bad reference with its line
    }
    const denied = names.find((name) => !matchesAny(allowed, name));
    if (denied) {
      const line = from.find((ins) => ins.args.includes(image))?.line;
      throw new BuildFailure(`Dockerfile${line ? ` line ${line}` : ''}: FROM ${image}: builds of ${record.github} may not pull ${denied} (builds.repositories[].pull)`);
    }
  }
}

export function describeError(err: unknown): string {
  if (err instanceof CommandError) {
    const tail = err.lastLines.slice(-2).join(' | ');
    return `${err.message}${tail ? `: ${tail}` : ''}`.slice(0, 1000);
  }
  return ((err as Error | undefined)?.message ?? String(err)).split('\n')[0]!.slice(0, 1000);
}
