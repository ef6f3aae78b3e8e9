/**
 * The images a Dockerfile names (each FROM base, each `COPY --from=<image>`), read with the same
 * rules the native builder uses (flags, quotes, the escape character, `ARG`s before the first
 * FROM with build args winning, Docker's automatic platform args), and which of them live in
 * Berth: the buildah builder gives a build credentials for exactly those it may pull, and refuses
 * the others before it starts.
 *
 * What cannot be known from the text alone is left out: a `--from` that uses variables (their
 * values may come from the base image's ENV) and the base images' ONBUILD triggers. That only
 * costs credentials (buildah then cannot pull such an image from Berth); it never grants any.
 */
import { type Dockerfile, type EscapeChar, expandWord, type Instruction, type Lookup, parseArgDeclarations, parseFlags } from './parser.js';

export interface ImageReference {
  /** The reference as the builder reads it (variables expanded, quotes and escapes removed). */
  reference: string;
  instruction: 'FROM' | 'COPY' | 'ADD';
  line: number;
}

export interface TargetPlatform {
  os: string;
  architecture: string;
  variant?: string;
}

/** Docker's automatic platform args (`TARGETARCH`, ...), usable in FROM without declaring them. */
export function platformArgs(platform: TargetPlatform): Map<string, string> {
  const { os, architecture, variant = '' } = platform;
  const text = `${os}/${architecture}${variant ? `/${variant}` : ''}`;
  return new Map([
    ['TARGETPLATFORM', text],
    ['TARGETOS', os],
    ['TARGETARCH', architecture],
    ['TARGETVARIANT', variant],
    ['BUILDPLATFORM', text],
    ['BUILDOS', os],
    ['BUILDARCH', architecture],
    ['BUILDVARIANT', variant],
  ]);
}

/**
 * The values of the ARGs declared before the first FROM (what FROM lines see): a build arg wins
 * over a default, and a default is expanded with what came before it.
 */
export function globalArgs(instructions: readonly Instruction[], buildArgs: Readonly<Record<string, string>>, escape: EscapeChar, builtins: ReadonlyMap<string, string>): Lookup {
  const values = new Map<string, string | undefined>();
  const lookup: Lookup = (name) => (values.has(name) ? values.get(name) : builtins.get(name));
  for (const instruction of instructions) {
    if (instruction.name === 'FROM') break;
    if (instruction.name !== 'ARG') continue;
    for (const { key, value } of parseArgDeclarations(instruction.args, escape, instruction.line)) {
      if (Object.hasOwn(buildArgs, key)) values.set(key, buildArgs[key]);
      else if (value !== undefined) values.set(key, expandWord(value, lookup, escape));
      else values.set(key, builtins.get(key));
    }
  }
  return lookup;
}

/** Every image the Dockerfile names in FROM and `--from` (not `scratch`, not its own stages), in order. */
export function imageReferences(dockerfile: Dockerfile, buildArgs: Readonly<Record<string, string>>, builtins: ReadonlyMap<string, string>): ImageReference[] {
  const { instructions, escape } = dockerfile;
  const lookup = globalArgs(instructions, buildArgs, escape, builtins);
  const stages: string[] = [];
  const images: ImageReference[] = [];
  for (const instruction of instructions) {
    const { name, line } = instruction;
    if (name === 'FROM') {
      const words = parseFlags(instruction.args, line).rest.split(/\s+/).filter(Boolean);
      const reference = expandWord(words[0] ?? '', lookup, escape);
      const lower = reference.toLowerCase();
      if (reference !== '' && lower !== 'scratch' && !stages.includes(lower)) images.push({ reference, instruction: 'FROM', line });
      stages.push(words[1]?.toUpperCase() === 'AS' && words[2] ? words[2].toLowerCase() : `#${stages.length}`);
    } else if (name === 'COPY' || name === 'ADD') {
      const from = parseFlags(instruction.args, line).values.get('from');
      if (from === undefined || from.includes('$')) continue;
      const reference = expandWord(from, () => undefined, escape);
      // An earlier stage, by number or name, as the builder looks it up.
      const earlier = stages.slice(0, -1);
      const stage = /^\d+$/.test(reference) ? Number(reference) < earlier.length : earlier.includes(reference.toLowerCase());
      if (!stage && reference !== '') images.push({ reference, instruction: name, line });
    }
  }
  return images;
}

/**
 * The Berth repository an image reference names when its host is one of `hosts` (Berth's own
 * addresses); undefined for images elsewhere.
 */
export function berthRepository(image: string, hosts: readonly string[]): string | undefined {
  const slash = image.indexOf('/');
  if (slash < 0) return undefined;
  const host = image.slice(0, slash).toLowerCase();
  if (!hosts.some((h) => h.toLowerCase() === host)) return undefined;
  const rest = image.slice(slash + 1);
  const name = rest.split('@')[0]!.replace(/:[^/]*$/, '');
  return name || undefined;
}
