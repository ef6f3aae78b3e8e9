/** What every builder (native, buildah) offers the build queue. */

export interface BuildRequest {
  /** The unpacked source: the build context is `contextDir`. */
  contextDir: string;
  /** The Dockerfile's path relative to `contextDir`. */
  dockerfile: string;
  buildArgs: Record<string, string>;
  /** Where the image goes: a Berth repository and the tags to set there. */
  repository: string;
  tags: string[];
  /** One line of build log at a time (no trailing newline). */
  log: (line: string) => void;
  /** Aborted on cancel or timeout: the builder stops and pushes nothing more. */
  signal: AbortSignal;
}

export interface BuildResult {
  /** The pushed manifest's digest. */
  digest: string;
}

export interface Builder {
  readonly name: 'native' | 'buildah';
  build(request: BuildRequest): Promise<BuildResult>;
}

/** A Dockerfile the chosen builder cannot build: the message names the instruction and line. */
export class UnsupportedDockerfileError extends Error {
  constructor(
    readonly instruction: string,
    readonly line: number,
    reason: string,
  ) {
    super(`Dockerfile line ${line}: ${instruction} ${reason}`);
    this.name = 'UnsupportedDockerfileError';
  }
}
