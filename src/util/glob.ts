/**
 * Repository patterns as auth rules, robot-token scopes and build rights write them: `*` matches
 * any characters, `/` included; everything else is literal. Matching is linear in the name's
 * length whatever the pattern (no regular expression, so no backtracking): the literal pieces
 * between stars are found left to right, each at its first place after the previous one.
 */
export interface Glob {
  test(text: string): boolean;
}

export function compileGlob(pattern: string): Glob {
  const pieces = pattern.split('*');
  if (pieces.length === 1) return { test: (text) => text === pattern };
  const first = pieces[0]!;
  const last = pieces[pieces.length - 1]!;
  const middle = pieces.slice(1, -1).filter((piece) => piece !== '');
  return {
    test(text: string): boolean {
      if (text.length < first.length + last.length) return false;
      if (!text.startsWith(first) || !text.endsWith(last)) return false;
      let at = first.length;
      const end = text.length - last.length;
      for (const piece of middle) {
        const found = text.indexOf(piece, at);
        if (found < 0 || found + piece.length > end) return false;
        at = found + piece.length;
      }
      return true;
    },
  };
}

/** Whether `text` matches any of `patterns`. */
export function matchesAny(patterns: readonly string[], text: string): boolean {
  return patterns.some((pattern) => compileGlob(pattern).test(text));
}
