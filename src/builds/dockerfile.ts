/**
 * Dockerfile parsing: instructions with their arguments and line numbers, after the syntax's
 * comments, parser directives and line continuations.
 */

export interface Instruction {
  /** Upper-cased: FROM, RUN, COPY, ... */
  name: string;
  /** Everything after the instruction word, continuations joined, trimmed. */
  args: string;
  /** 1-based line where the instruction starts. */
  line: number;
}

export interface Dockerfile {
  /** Parser directives at the top (`# escape=``), lower-cased names. */
  directives: Record<string, string>;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): Dockerfile {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const directives: Record<string, string> = {};
  let index = 0;
  for (; index < lines.length; index++) {
    const match = /^#\s*([a-zA-Z]+)\s*=\s*(.*?)\s*$/.exec(lines[index]!);
    if (!match || match[1]!.toLowerCase() in directives) break;
    directives[match[1]!.toLowerCase()] = match[2]!;
  }
  const escape = directives.escape === '`' ? '`' : '\\';
  const instructions: Instruction[] = [];
  let current: { parts: string[]; line: number } | undefined;
  for (; index < lines.length; index++) {
    const raw = lines[index]!;
    const trimmed = raw.trim();
    if (trimmed.startsWith('#')) continue; // comments, also inside a continued instruction
    if (!current) {
      if (trimmed === '') continue;
      current = { parts: [], line: index + 1 };
    }
    const continued = trimmed.endsWith(escape);
    current.parts.push(continued ? trimmed.slice(0, -1) : trimmed);
    if (continued && index < lines.length - 1) continue;
    const joined = current.parts.join(' ').trim();
    const match = /^(\S+)\s*([\s\S]*)$/.exec(joined);
    if (match) instructions.push({ name: match[1]!.toUpperCase(), args: match[2]!.trim(), line: current.line });
    current = undefined;
  }
  return { directives, instructions };
}
