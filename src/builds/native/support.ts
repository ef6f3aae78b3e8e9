/**
 * What the native builder cannot build, found from the Dockerfile's text alone (before any work):
 * RUN, instructions and flags it does not know, heredocs, ADD of a remote URL written literally.
 * The native builder refuses such a Dockerfile with this error; a builder choice (`auto`) can ask
 * the same question to pick buildah instead.
 */
import { UnsupportedDockerfileError } from '../builder.js';
import { type Dockerfile, parseDockerfile, parseFlags, parseList } from '../dockerfile/index.js';
import { ALLOWED_FLAGS, CONFIG_INSTRUCTIONS } from './instructions.js';

export const NATIVE_INSTRUCTIONS: ReadonlySet<string> = new Set(['FROM', 'ARG', 'COPY', 'ADD', 'WORKDIR', ...CONFIG_INSTRUCTIONS]);

const HEREDOC = /(^|\s)<<-?["']?[A-Za-z_]/;
const REMOTE = /^([a-z][a-z0-9+.-]*:\/\/|git@)/i;

/** The first thing in `dockerfile` (parsed, or its text) the native builder cannot do; undefined when it can build it. */
export function findUnsupported(dockerfile: Dockerfile | string): UnsupportedDockerfileError | undefined {
  const parsed = typeof dockerfile === 'string' ? parseDockerfile(dockerfile) : dockerfile;
  for (const { name, args, line } of parsed.instructions) {
    if (name === 'RUN') return new UnsupportedDockerfileError('RUN', line, 'needs the buildah builder: the native builder cannot run commands');
    if (!NATIVE_INSTRUCTIONS.has(name)) return new UnsupportedDockerfileError(name, line, 'is not supported by the native builder');
    if ((name === 'COPY' || name === 'ADD') && HEREDOC.test(args)) return new UnsupportedDockerfileError(name, line, 'with a heredoc needs the buildah builder');
    let flags;
    try {
      flags = parseFlags(args, line);
    } catch {
      continue; // a syntax error: the build reports it with its line
    }
    const allowed = ALLOWED_FLAGS[name] ?? [];
    const unknown = [...flags.values.keys()].find((flag) => !allowed.includes(flag));
    if (unknown !== undefined) return new UnsupportedDockerfileError(name, line, `--${unknown} is not supported by the native builder`);
    if (name === 'ADD') {
      const remote = parseList(flags.rest).slice(0, -1).find((source) => REMOTE.test(source));
      if (remote) return remoteAdd(line, remote);
    }
  }
  return undefined;
}

export function remoteAdd(line: number, source: string): UnsupportedDockerfileError {
  return new UnsupportedDockerfileError('ADD', line, `of a remote URL (${source}) needs the buildah builder: the native builder adds local files only`);
}

export function isRemoteSource(source: string): boolean {
  return REMOTE.test(source);
}
