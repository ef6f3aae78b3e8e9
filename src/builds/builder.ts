/** What every builder (native, buildah) offers the build queue. */

/** The name builds act under: in tokens for the registry (buildah's pushes), in events and logs. */
export const BUILD_USER = 'berth-build';

/**
 * Docker Hub's build variables, given to every build as build arguments (github/rules.ts fills
 * them in). A Dockerfile uses those it declares with ARG; the others are no mistake of its own,
 * so no warning names them.
 */
export const AUTOMATIC_BUILD_ARGS: readonly string[] = ['SOURCE_BRANCH', 'SOURCE_COMMIT', 'COMMIT_MSG', 'DOCKER_REPO', 'DOCKER_TAG', 'IMAGE_NAME', 'DOCKERFILE_PATH'];

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
  /**
   * Whether this build may read a repository of this registry: asked for every repository the
   * builder resolves an image in (each stage's base, each `COPY --from=<image>`, ONBUILD's too),
   * before anything is read from it. The queue decides (the linked repository's rights, and those
   * of whoever triggered the build); the builders only ask.
   */
  mayPull(repository: string): Promise<boolean>;
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

/** A Dockerfile names an image of this registry the build may not pull. */
export class ImageDeniedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageDeniedError';
  }
}
