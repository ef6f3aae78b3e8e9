/**
 * `WWW-Authenticate` as an upstream registry sends it (RFC 9110 section 11.6.1):
 *
 *   Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"
 *   Basic realm="Registry Realm"
 *
 * The header comes from a server on the network: it is read by a single pass over at most
 * MAX_HEADER characters (no regular expression that could backtrack), and whatever does not
 * parse is dropped rather than guessed at.
 */

export interface Challenge {
  /** Lower-cased: `bearer`, `basic`. */
  scheme: string;
  /** Parameter names lower-cased. */
  params: Record<string, string>;
}

const MAX_HEADER = 4096;
const MAX_CHALLENGES = 8;

function isTokenChar(code: number): boolean {
  // tchar: ALPHA / DIGIT / "!#$%&'*+-.^_`|~"
  return (
    (code >= 0x30 && code <= 0x39) ||
    (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) ||
    '!#$%&\'*+-.^_`|~'.includes(String.fromCharCode(code))
  );
}

class Scanner {
  position = 0;

  constructor(readonly text: string) {}

  get done(): boolean {
    return this.position >= this.text.length;
  }

  skipSpace(): void {
    while (!this.done && (this.text[this.position] === ' ' || this.text[this.position] === '\t')) this.position += 1;
  }

  token(): string {
    const start = this.position;
    while (!this.done && isTokenChar(this.text.charCodeAt(this.position))) this.position += 1;
    return this.text.slice(start, this.position);
  }

  /** A quoted string after its opening quote; undefined when it never closes. */
  quoted(): string | undefined {
    let value = '';
    while (!this.done) {
      const char = this.text[this.position]!;
      this.position += 1;
      if (char === '"') return value;
      if (char === '\\' && !this.done) {
        value += this.text[this.position];
        this.position += 1;
      } else {
        value += char;
      }
    }
    return undefined;
  }

  peek(): string | undefined {
    return this.text[this.position];
  }
}

/**
 * The challenges in a header, in order. A parameter without `=` ends the parameters of its
 * challenge and starts the next challenge (that is how `Basic realm="a", Bearer realm="b"` reads).
 */
export function parseChallenges(header: string | undefined): Challenge[] {
  if (!header || header.length > MAX_HEADER) return [];
  const scan = new Scanner(header);
  const challenges: Challenge[] = [];
  let current: Challenge | undefined;
  while (!scan.done) {
    scan.skipSpace();
    if (scan.peek() === ',') {
      scan.position += 1;
      continue;
    }
    const word = scan.token();
    if (word === '') return challenges; // garbage: keep what parsed
    scan.skipSpace();
    if (current && scan.peek() === '=') {
      scan.position += 1;
      scan.skipSpace();
      let value: string | undefined;
      if (scan.peek() === '"') {
        scan.position += 1;
        value = scan.quoted();
      } else {
        value = scan.token();
      }
      if (value === undefined) return challenges;
      current.params[word.toLowerCase()] = value;
      continue;
    }
    if (challenges.length === MAX_CHALLENGES) return challenges;
    current = { scheme: word.toLowerCase(), params: {} };
    challenges.push(current);
    // A token68 (Basic's credentials form) or trailing `=` padding: skipped.
    while (scan.peek() === '=') scan.position += 1;
  }
  return challenges;
}
