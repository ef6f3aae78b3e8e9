/**
 * Dockerfile parsing: instructions with their arguments and line numbers, after the syntax's
 * comments, parser directives and line continuations; and the pieces every builder needs to read
 * an instruction's arguments the way Docker does: leading `--flags`, exec (JSON) versus shell
 * form, whitespace-separated words with quotes, `KEY=VALUE` lists, and `$VAR` substitution.
 *
 * `parseDockerfile` stays purely syntactic (it never expands variables): the build queue uses it
 * to look for `RUN` before choosing a builder.
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
  /** The escape character the `escape` directive chose: `\` (default) or a backtick. */
  escape: EscapeChar;
  instructions: Instruction[];
}

export type EscapeChar = '\\' | '`';

/** A Dockerfile the parser cannot read (a syntax error), with the line it is on. */
export class DockerfileSyntaxError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`Dockerfile line ${line}: ${message}`);
    this.name = 'DockerfileSyntaxError';
  }
}

// No two quantifiers here can take the same characters: a Dockerfile line may be a megabyte long.
const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=(.*)$/;

export function parseDockerfile(text: string): Dockerfile {
  const lines = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n').split('\n');
  const directives: Record<string, string> = {};
  let index = 0;
  // Directives come first; the first line that is not one (even a blank line) ends them.
  for (; index < lines.length; index++) {
    const match = DIRECTIVE.exec(lines[index]!);
    if (!match || match[1]!.toLowerCase() in directives) break;
    directives[match[1]!.toLowerCase()] = match[2]!.trim();
  }
  const escape: EscapeChar = directives.escape === '`' ? '`' : '\\';
  const continuation = new RegExp(`${escape === '\\' ? '\\\\' : '`'}[ \\t]*$`);
  const instructions: Instruction[] = [];
  const finish = ({ text: joined, line }: { text: string; line: number }) => {
    const match = /^(\S+)\s*([\s\S]*)$/.exec(joined.trim());
    if (match) instructions.push({ name: match[1]!.toUpperCase(), args: match[2]!.trim(), line });
  };
  let current: { text: string; line: number } | undefined;
  for (; index < lines.length; index++) {
    const raw = lines[index]!;
    const trimmed = raw.trim();
    // Comments are whole lines only, also inside a continued instruction.
    if (trimmed.startsWith('#')) continue;
    // Blank lines between instructions, and inside a continuation (Docker skips those with a
    // deprecation warning), are skipped.
    if (trimmed === '') continue;
    // The first line loses its leading whitespace; continuation lines are joined as they are,
    // with nothing in between, as Docker does (`A=x\` + `y` is `A=xy`).
    const piece = current ? raw : raw.trimStart();
    current ??= { text: '', line: index + 1 };
    if (continuation.test(piece)) {
      current.text += piece.replace(continuation, '');
      if (index < lines.length - 1) continue;
    } else {
      current.text += piece;
    }
    finish(current);
    current = undefined;
  }
  // A continuation running into the end of the file (or into comments) still ends its instruction.
  if (current) finish(current);
  return { directives, escape, instructions };
}

// ---------------------------------------------------------------------------------------------
// Flags: `COPY --from=build --chown=1000:1000 src dest`

export interface Flags {
  /** `--name=value` (value unquoted), or `--name` alone as the empty string. */
  values: Map<string, string>;
  /** The arguments after the flags. */
  rest: string;
}

/**
 * Splits leading `--name[=value]` words from an instruction's arguments. A value may be quoted.
 * Flag names are returned lower-cased; a repeated flag keeps its last value.
 */
export function parseFlags(args: string, line: number): Flags {
  const values = new Map<string, string>();
  let rest = args.trimStart();
  while (rest.startsWith('--')) {
    let i = 2;
    let word = '';
    let quote: string | undefined;
    for (; i < rest.length; i++) {
      const ch = rest[i]!;
      if (quote) {
        if (ch === quote) quote = undefined;
        else word += ch;
      } else if (ch === '"' || ch === "'") {
        quote = ch;
      } else if (/\s/.test(ch)) {
        break;
      } else {
        word += ch;
      }
    }
    if (quote) throw new DockerfileSyntaxError(line, `unterminated quote in flag --${word}`);
    if (word === '') {
      // A lone `--` ends the flags.
      rest = rest.slice(i).trimStart();
      break;
    }
    const eq = word.indexOf('=');
    const name = (eq < 0 ? word : word.slice(0, eq)).toLowerCase();
    values.set(name, eq < 0 ? '' : word.slice(eq + 1));
    rest = rest.slice(i).trimStart();
  }
  return { values, rest };
}

// ---------------------------------------------------------------------------------------------
// Exec form and word lists

/** The exec form's list when `args` is a JSON array of strings; undefined for the shell form. */
export function parseExecForm(args: string): string[] | undefined {
  const text = args.trim();
  if (!text.startsWith('[')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined; // Docker treats a line that is not valid JSON as the shell form.
  }
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) return undefined;
  return value as string[];
}

/** COPY/ADD/VOLUME arguments: the JSON form, or words separated by whitespace (quotes kept). */
export function parseList(args: string): string[] {
  return parseExecForm(args) ?? args.split(/\s+/).filter((word) => word !== '');
}

/**
 * Splits on whitespace outside quotes, keeping the quotes and escapes in the words (they are
 * removed later, when each word is expanded): Docker's word splitting for ENV, LABEL and ARG.
 */
export function splitWords(text: string, escape: EscapeChar): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | undefined;
  // A quoted empty string ("") is still a word.
  let keepEmpty = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === escape && quote !== "'") {
        if (i + 1 === text.length) continue;
        word += ch + text[++i]!;
        continue;
      }
      word += ch;
      if (ch === quote) quote = undefined;
      continue;
    }
    if (/\s/.test(ch)) {
      if (inWord && (word !== '' || keepEmpty)) words.push(word);
      word = '';
      inWord = false;
      keepEmpty = false;
      continue;
    }
    inWord = true;
    if (ch === '"' || ch === "'") {
      quote = ch;
      keepEmpty = true;
      word += ch;
      continue;
    }
    if (ch === escape) {
      if (i + 1 === text.length) continue;
      word += ch + text[++i]!;
      continue;
    }
    word += ch;
  }
  if (inWord && (word !== '' || keepEmpty)) words.push(word);
  return words;
}

export interface KeyValue {
  key: string;
  /** Raw (quotes and `$` not yet processed). */
  value: string;
}

/**
 * ENV and LABEL arguments: `K=V K2="v 2"`, or the legacy `K value with spaces` (one pair, the
 * value being the rest of the line).
 */
export function parseKeyValues(args: string, escape: EscapeChar, instruction: string, line: number): KeyValue[] {
  const words = splitWords(args, escape);
  if (words.length === 0) throw new DockerfileSyntaxError(line, `${instruction} needs at least one argument`);
  if (!words[0]!.includes('=')) {
    const match = /^(\S+)\s+([\s\S]+)$/.exec(args.trim());
    if (!match) throw new DockerfileSyntaxError(line, `${instruction} must have two arguments`);
    return [{ key: match[1]!, value: match[2]! }];
  }
  return words.map((word) => {
    const eq = word.indexOf('=');
    if (eq < 0) throw new DockerfileSyntaxError(line, `${instruction}: can't find = in "${word}"; use the form name=value`);
    return { key: word.slice(0, eq), value: word.slice(eq + 1) };
  });
}

/** ARG arguments: `NAME` or `NAME=default`, one or more. */
export function parseArgDeclarations(args: string, escape: EscapeChar, line: number): { key: string; value?: string }[] {
  const words = splitWords(args, escape);
  if (words.length === 0) throw new DockerfileSyntaxError(line, 'ARG needs at least one argument');
  return words.map((word) => {
    const eq = word.indexOf('=');
    return eq < 0 ? { key: word } : { key: word.slice(0, eq), value: word.slice(eq + 1) };
  });
}

// ---------------------------------------------------------------------------------------------
// Variable substitution, as Docker's shell lexer does it for the instructions that expand
// variables (FROM, COPY, ADD, ENV, LABEL, ARG, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL): quotes
// are removed, the escape character escapes the next character, single quotes are literal, and
// `$NAME`, `${NAME}`, `${NAME:-word}`, `${NAME-word}`, `${NAME:+word}`, `${NAME+word}`,
// `${NAME:?message}` and `${NAME?message}` are replaced. An unset variable becomes empty.

/** Variables visible to substitution: undefined for unset. */
export type Lookup = (name: string) => string | undefined;

export class SubstitutionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SubstitutionError';
  }
}

/** Expands one word (quotes removed, variables replaced). Whitespace is kept as it is. */
export function expandWord(word: string, lookup: Lookup, escape: EscapeChar = '\\'): string {
  return new Lexer(word, lookup, escape).until(undefined);
}

class Lexer {
  private pos = 0;

  constructor(
    private readonly text: string,
    private readonly lookup: Lookup,
    private readonly escape: EscapeChar,
  ) {}

  /** Reads up to `stop` (consumed) or the end; `stop` undefined reads to the end. */
  until(stop: string | undefined): string {
    let out = '';
    while (this.pos < this.text.length) {
      const ch = this.text[this.pos]!;
      if (stop !== undefined && ch === stop) {
        this.pos++;
        return out;
      }
      this.pos++;
      if (ch === this.escape) {
        if (this.pos < this.text.length) out += this.text[this.pos++]!;
      } else if (ch === "'") {
        out += this.singleQuoted();
      } else if (ch === '"') {
        out += this.doubleQuoted();
      } else if (ch === '$') {
        out += this.dollar();
      } else {
        out += ch;
      }
    }
    if (stop !== undefined) throw new SubstitutionError(`missing '${stop}' in "${this.text}"`);
    return out;
  }

  private singleQuoted(): string {
    const end = this.text.indexOf("'", this.pos);
    if (end < 0) throw new SubstitutionError(`unterminated single quote in "${this.text}"`);
    const out = this.text.slice(this.pos, end);
    this.pos = end + 1;
    return out;
  }

  private doubleQuoted(): string {
    let out = '';
    while (this.pos < this.text.length) {
      const ch = this.text[this.pos++]!;
      if (ch === '"') return out;
      if (ch === '$') {
        out += this.dollar();
      } else if (ch === this.escape && this.pos < this.text.length && ['"', '$', this.escape].includes(this.text[this.pos]!)) {
        out += this.text[this.pos++]!;
      } else {
        out += ch;
      }
    }
    throw new SubstitutionError(`unterminated double quote in "${this.text}"`);
  }

  private name(): string {
    const rest = this.text.slice(this.pos);
    const match = /^(?:[0-9]+|[@*#?$!-]|[A-Za-z_][A-Za-z0-9_]*)/.exec(rest);
    const name = match?.[0] ?? '';
    this.pos += name.length;
    return name;
  }

  private dollar(): string {
    if (this.text[this.pos] !== '{') {
      const name = this.name();
      if (name === '') return '$';
      return this.lookup(name) ?? '';
    }
    this.pos++;
    const name = this.name();
    if (name === '') throw new SubstitutionError(`bad substitution in "${this.text}"`);
    const next = this.text[this.pos];
    if (next === '}') {
      this.pos++;
      return this.lookup(name) ?? '';
    }
    let colon = false;
    if (next === ':') {
      colon = true;
      this.pos++;
    }
    const op = this.text[this.pos++];
    if (op !== '-' && op !== '+' && op !== '?') {
      throw new SubstitutionError(`unsupported modifier in \${${name}${colon ? ':' : ''}${op ?? ''}...} in "${this.text}"`);
    }
    const word = this.until('}');
    const value = this.lookup(name);
    // With a colon, empty counts as unset.
    const set = colon ? value !== undefined && value !== '' : value !== undefined;
    if (op === '-') return set ? value! : word;
    if (op === '+') return set ? word : '';
    if (!set) throw new SubstitutionError(`${name}: ${word || 'is not set'}`);
    return value!;
  }
}
