/**
 * The base images a Dockerfile pulls (its FROM lines), with build arguments substituted, and
 * which of them live in Berth: to give a build credentials for exactly those when auth is on.
 */
import type { Instruction } from './parser.js';

/** `${NAME}`, `${NAME:-default}`, `${NAME:+alt}`, `$NAME` from `vars`. */
function substitute(text: string, vars: ReadonlyMap<string, string>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, braced: string | undefined, op: string | undefined, word: string | undefined, bare: string | undefined) => {
    const value = vars.get(braced ?? bare ?? '');
    if (op === '-') return value ? value : (word ?? '');
    if (op === '+') return value ? (word ?? '') : '';
    return value ?? '';
  });
}

/** The image each FROM names (not `scratch`, not an earlier stage), in order. */
export function baseImages(instructions: readonly Instruction[], buildArgs: Readonly<Record<string, string>>): string[] {
  const vars = new Map<string, string>();
  const stages = new Set<string>();
  const images: string[] = [];
  let seenFrom = false;
  for (const ins of instructions) {
    if (ins.name === 'ARG' && !seenFrom) {
      // Only ARGs before the first FROM apply to FROM lines.
      for (const decl of ins.args.split(/\s+/).filter(Boolean)) {
        const eq = decl.indexOf('=');
        const name = eq < 0 ? decl : decl.slice(0, eq);
        const fallback = eq < 0 ? undefined : decl.slice(eq + 1).replace(/^"(.*)"$/, '$1');
        const value = buildArgs[name] ?? fallback;
        if (value !== undefined) vars.set(name, value);
      }
    }
    if (ins.name !== 'FROM') continue;
    seenFrom = true;
    const words = ins.args.split(/\s+/).filter((w) => w && !w.startsWith('--'));
    const image = substitute(words[0] ?? '', vars);
    if (image && image !== 'scratch' && !stages.has(image.toLowerCase())) images.push(image);
    if (words[1]?.toLowerCase() === 'as' && words[2]) stages.add(words[2].toLowerCase());
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
