/**
 * A build's source: the repository tarball at the pushed commit from the GitHub API
 * (`GET {api}/repos/{owner}/{repo}/tarball/{sha}`, redirected to codeload), streamed into a
 * fresh folder (./extract.ts does the unpacking and its checks), then the build context and
 * Dockerfile the rule names, checked to be inside it.
 */
import { lstat, mkdir, readFile, realpath } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { type ExtractLimits, type ExtractResult, extractTarball, SourceError } from './extract.js';
import type { GitHubApi } from './client.js';

export { SourceError } from './extract.js';

export interface FetchSourceOptions {
  github: GitHubApi;
  /** owner/repo */
  repository: string;
  sha: string;
  /** An empty or missing folder to unpack into. */
  dest: string;
  limits: ExtractLimits;
  signal?: AbortSignal;
}

export async function fetchSource(options: FetchSourceOptions): Promise<ExtractResult> {
  const [owner, repo] = options.repository.split('/');
  const path = `repos/${encodeURIComponent(owner!)}/${encodeURIComponent(repo!)}/tarball/${encodeURIComponent(options.sha)}`;
  const body = await options.github.download(path, options.signal);
  const declared = Number(body.headers['content-length'] ?? NaN);
  if (declared > options.limits.maxBytes) {
    body.destroy();
    throw new SourceError(`the tarball is larger than ${options.limits.maxBytes} bytes (builds.source.maxBytes)`);
  }
  await mkdir(options.dest, { recursive: true, mode: 0o700 });
  return extractTarball(body, options.dest, options.limits, options.signal);
}

/** True when `path` is `root` or inside it (both real paths). */
function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !rel.startsWith(sep));
}

export interface BuildInput {
  /** The build context (a real folder inside the source). */
  contextDir: string;
  /** The Dockerfile relative to contextDir. */
  dockerfile: string;
  /** Its text. */
  dockerfileText: string;
}

/**
 * The context folder and the Dockerfile a rule names, resolved through any symlinks and
 * checked to stay inside the source (the Dockerfile inside the context).
 */
export async function resolveBuildInput(sourceDir: string, context: string, dockerfile: string): Promise<BuildInput> {
  const root = await realpath(sourceDir);
  let contextDir: string;
  try {
    contextDir = await realpath(join(root, context));
  } catch {
    throw new SourceError(`the build context ${JSON.stringify(context || '/')} does not exist in the repository`);
  }
  if (!isInside(root, contextDir) || !(await lstat(contextDir)).isDirectory()) {
    throw new SourceError(`the build context ${JSON.stringify(context || '/')} is not a folder inside the repository`);
  }
  let file: string;
  try {
    file = await realpath(join(contextDir, dockerfile));
  } catch {
    throw new SourceError(`no ${dockerfile} in the build context ${JSON.stringify(context || '/')}`);
  }
  if (!isInside(contextDir, file) || !(await lstat(file)).isFile()) {
    throw new SourceError(`${dockerfile} must be a file inside the build context ${JSON.stringify(context || '/')}`);
  }
  const size = (await lstat(file)).size;
  if (size > 1024 * 1024) throw new SourceError(`${dockerfile} is larger than 1 MiB`);
  return { contextDir, dockerfile: relative(contextDir, file).split(sep).join('/'), dockerfileText: await readFile(file, 'utf8') };
}
