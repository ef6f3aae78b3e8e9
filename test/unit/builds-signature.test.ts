import { describe, expect, it } from 'vitest';
import { matchingSecrets, signBody } from '../../src/builds/github/signature.js';

describe('webhook signatures', () => {
  it("matches GitHub's documented test vector", () => {
    const body = Buffer.from('Hello, World!');
    const expected = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
    expect(signBody("It's a Secret to Everybody", body)).toBe(expected);
    expect([...matchingSecrets(expected, body, ["It's a Secret to Everybody"])]).toEqual(["It's a Secret to Everybody"]);
  });

  it('finds every secret that matches among several, and none for a wrong one', () => {
    const body = Buffer.from('{"zen":"x"}');
    const header = signBody('second-secret', body);
    expect([...matchingSecrets(header, body, ['first-secret', 'second-secret', 'second-secret'])]).toEqual(['second-secret']);
    expect(matchingSecrets(header, body, ['first-secret']).size).toBe(0);
    expect(matchingSecrets(header, Buffer.from('{"zen":"y"}'), ['second-secret']).size).toBe(0);
  });

  it('refuses missing, malformed and sha1 headers', () => {
    const body = Buffer.from('x');
    const good = signBody('a-secret-1', body);
    for (const header of [undefined, '', 'sha256=', good.slice(0, -2), `sha1=${good.slice(7, 47)}`, `${good}00`, good.replace('sha256=', 'sha512=')]) {
      expect(matchingSecrets(header, body, ['a-secret-1']).size).toBe(0);
    }
    expect(matchingSecrets(good.toUpperCase().replace('SHA256=', 'sha256='), body, ['a-secret-1']).size).toBe(1);
  });
});
