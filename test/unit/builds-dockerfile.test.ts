/** The Dockerfile parser and the argument readers the builders share. */
import { describe, expect, it } from 'vitest';
import {
  expandWord,
  parseArgDeclarations,
  parseDockerfile,
  parseExecForm,
  parseFlags,
  parseKeyValues,
  parseList,
  splitWords,
  SubstitutionError,
} from '../../src/builds/dockerfile/parser.js';

const env =
  (vars: Record<string, string>) =>
  (name: string): string | undefined =>
    Object.hasOwn(vars, name) ? vars[name] : undefined;

describe('parseDockerfile', () => {
  it('reads instructions with their first line, upper-cased names and trimmed arguments', () => {
    const { instructions } = parseDockerfile('from scratch\n\n  copy  a b  \nCMD ["x"]\n');
    expect(instructions).toEqual([
      { name: 'FROM', args: 'scratch', line: 1 },
      { name: 'COPY', args: 'a b', line: 3 },
      { name: 'CMD', args: '["x"]', line: 4 },
    ]);
  });

  it('joins continuations as Docker does, skipping comment and blank lines inside them', () => {
    const text = ['FROM scratch', 'ENV A=x\\', 'y \\', '# a comment inside', '', '    B=2', 'LABEL a=b \\', '  c=d'].join('\n');
    const { instructions } = parseDockerfile(text);
    expect(instructions.map((i) => [i.name, i.args, i.line])).toEqual([
      ['FROM', 'scratch', 1],
      ['ENV', 'A=xy     B=2', 2],
      ['LABEL', 'a=b   c=d', 7],
    ]);
  });

  it('reads parser directives only at the top, and the escape directive changes the continuation character', () => {
    const text = ['# escape=`', '# syntax=docker/dockerfile:1', 'FROM scratch', 'COPY a `', '  C:\\dir\\', '# escape=\\'].join('\n');
    const parsed = parseDockerfile(text);
    expect(parsed.directives).toEqual({ escape: '`', syntax: 'docker/dockerfile:1' });
    expect(parsed.escape).toBe('`');
    expect(parsed.instructions[1]).toEqual({ name: 'COPY', args: 'a   C:\\dir\\', line: 4 });
  });

  it('stops reading directives at the first other line, and a comment is not an instruction', () => {
    const parsed = parseDockerfile('# hello\n# escape=`\nFROM scratch\n');
    expect(parsed.directives).toEqual({});
    expect(parsed.escape).toBe('\\');
    expect(parsed.instructions).toHaveLength(1);
  });

  it('handles CRLF, a BOM, and a continuation at the end of the file', () => {
    const { instructions } = parseDockerfile('\uFEFFFROM scratch\r\nCMD echo \\\r\n');
    expect(instructions).toEqual([
      { name: 'FROM', args: 'scratch', line: 1 },
      { name: 'CMD', args: 'echo', line: 2 },
    ]);
  });

  it('finds RUN for the builder choice', () => {
    expect(parseDockerfile('FROM x\nrun echo hi\n').instructions.some((i) => i.name === 'RUN')).toBe(true);
    expect(parseDockerfile('FROM x\n# RUN echo hi\nCOPY . .\n').instructions.some((i) => i.name === 'RUN')).toBe(false);
  });
});

describe('flags', () => {
  it('splits leading --flags, with quoted values, and leaves the rest', () => {
    const flags = parseFlags('--from=build --chown="app:app" --link  src dest', 1);
    expect([...flags.values]).toEqual([
      ['from', 'build'],
      ['chown', 'app:app'],
      ['link', ''],
    ]);
    expect(flags.rest).toBe('src dest');
  });

  it('stops at the first word that is not a flag, or at --', () => {
    expect(parseFlags('src --from=x', 1).values.size).toBe(0);
    const flags = parseFlags('--chmod=755 -- --odd-name dest', 1);
    expect(flags.values.get('chmod')).toBe('755');
    expect(flags.rest).toBe('--odd-name dest');
  });
});

describe('exec and shell form', () => {
  it('reads a JSON array of strings as the exec form', () => {
    expect(parseExecForm('["/bin/app", "--port", "80"]')).toEqual(['/bin/app', '--port', '80']);
    expect(parseExecForm('[]')).toEqual([]);
  });

  it('treats anything else as the shell form', () => {
    expect(parseExecForm('echo hi')).toBeUndefined();
    expect(parseExecForm('[ "a", ]')).toBeUndefined(); // invalid JSON: shell form, as Docker does
    expect(parseExecForm('[1, 2]')).toBeUndefined();
  });

  it('lists COPY/VOLUME arguments in either form', () => {
    expect(parseList('["a b", "/dest/"]')).toEqual(['a b', '/dest/']);
    expect(parseList('  a   b /dest/ ')).toEqual(['a', 'b', '/dest/']);
  });
});

describe('words and key=value lists', () => {
  it('splits on whitespace outside quotes, keeping quotes for later', () => {
    expect(splitWords(`a="x y" b='q r' c=d\\ e ""`, '\\')).toEqual([`a="x y"`, `b='q r'`, 'c=d\\ e', '""']);
  });

  it('reads ENV/LABEL pairs and the legacy one-pair form', () => {
    expect(parseKeyValues('A=1 B="two words"', '\\', 'ENV', 1)).toEqual([
      { key: 'A', value: '1' },
      { key: 'B', value: '"two words"' },
    ]);
    expect(parseKeyValues('GREETING hello  world', '\\', 'ENV', 1)).toEqual([{ key: 'GREETING', value: 'hello  world' }]);
    expect(() => parseKeyValues('A=1 B', '\\', 'ENV', 3)).toThrow(/line 3.*can't find =/);
    expect(() => parseKeyValues('ONLY', '\\', 'ENV', 4)).toThrow(/two arguments/);
  });

  it('reads ARG declarations with and without defaults', () => {
    expect(parseArgDeclarations('A B=2 C="x y"', '\\', 1)).toEqual([{ key: 'A' }, { key: 'B', value: '2' }, { key: 'C', value: '"x y"' }]);
  });
});

describe('variable substitution', () => {
  const vars = env({ NAME: 'berth', EMPTY: '', PATH: '/bin' });

  it('replaces $VAR and ${VAR}; unset variables are empty', () => {
    expect(expandWord('$NAME-${NAME}_x $NOPE.', vars)).toBe('berth-berth_x .');
    expect(expandWord('${PATH}:/usr/bin', vars)).toBe('/bin:/usr/bin');
  });

  it('supports :- - :+ + :? and ? modifiers, with nested words', () => {
    expect(expandWord('${NOPE:-default}', vars)).toBe('default');
    expect(expandWord('${EMPTY:-default}', vars)).toBe('default');
    expect(expandWord('${EMPTY-default}', vars)).toBe('');
    expect(expandWord('${NOPE-$NAME/x}', vars)).toBe('berth/x');
    expect(expandWord('${NAME:+set}', vars)).toBe('set');
    expect(expandWord('${EMPTY:+set}', vars)).toBe('');
    expect(expandWord('${EMPTY+set}', vars)).toBe('set');
    expect(expandWord('${NAME:?missing}', vars)).toBe('berth');
    expect(() => expandWord('${NOPE:?must be set}', vars)).toThrow(SubstitutionError);
    expect(() => expandWord('${NOPE:?must be set}', vars)).toThrow(/NOPE: must be set/);
    expect(() => expandWord('${NAME/x/y}', vars)).toThrow(/unsupported modifier/);
  });

  it('removes quotes; single quotes are literal, double quotes expand', () => {
    expect(expandWord(`'$NAME' "$NAME" "a b"`, vars)).toBe('$NAME berth a b');
    expect(expandWord(`"say \\"hi\\" \\$NAME"`, vars)).toBe('say "hi" $NAME');
  });

  it('escapes with the escape character, which the escape directive can change', () => {
    expect(expandWord('\\$NAME \\\\ a\\ b', vars)).toBe('$NAME \\ a b');
    expect(expandWord('`$NAME C:\\dir', vars, '`')).toBe('$NAME C:\\dir');
  });

  it('leaves a lone $ and $ before non-names', () => {
    expect(expandWord('cost: $ 5 $/x', vars)).toBe('cost: $ 5 $/x');
  });

  it('refuses unterminated quotes and braces', () => {
    expect(() => expandWord('"open', vars)).toThrow(SubstitutionError);
    expect(() => expandWord(`'open`, vars)).toThrow(SubstitutionError);
    expect(() => expandWord('${NAME', vars)).toThrow(SubstitutionError);
  });
});
