/**
 * One build from start to end: fetch the source at the commit, find the context and the
 * Dockerfile, choose the builder, build and push. Everything on disk lives in one folder per
 * build, removed at the end whatever happened.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Builder } from '../builder.js';
import { type BuilderSource, chooseBuilder } from '../builders.js';
import { CommandError } from '../buildah/index.js';
import type { BuildsConfig } from '../config.js';
import { parseDockerfile } from '../dockerfile/index.js';
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
  return ['UnsupportedDockerfileError', 'DockerfileSyntaxError', 'NativeBuildError', 'BaseImageError', 'ImageDeniedError'].includes(name) || /^Dockerfile line \d+/.test((err as Error | undefined)?.message ?? '');
}

export interface PipelineOptions {
  config: BuildsConfig;
  builders: BuilderSource;
  /** The GitHub client for a linked repository (its token, or the global one). */
  github: (repository: string) => GitHubApi;
  /** What a build may pull from this registry (the builders ask before they read an image). */
  mayPull: (record: BuildRecord) => (repository: string) => Promise<boolean>;
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
    const result = await builder.build({
      contextDir: input.contextDir,
      dockerfile: input.dockerfile,
      buildArgs: record.buildArgs,
      repository: record.image,
      tags: record.tags,
      log,
      signal,
      mayPull: options.mayPull(record),
    });
    log(`==> pushed ${record.image}@${result.digest} as ${record.tags.join(', ')}`);
    return { digest: result.digest, builder: builder.name };
  } finally {
    await rm(work, { recursive: true, force: true, maxRetries: 3 }).catch((err: Error) => log(`warning: could not remove the build folder: ${err.message}`));
  }
}

export function describeError(err: unknown): string {
  if (err instanceof CommandError) {
    const tail = err.lastLines.slice(-2).join(' | ');
    return `${err.message}${tail ? `: ${tail}` : ''}`.slice(0, 1000);
  }
  return ((err as Error | undefined)?.message ?? String(err)).split('\n')[0]!.slice(0, 1000);
}
