/** The users file: htpasswd -B compatible, re-read when it changes, no timing gap for unknown users. */
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashFingerprint, parseHtpasswd, serializeHtpasswd, UserStore } from '../../src/auth/users.js';
import { tempDir } from '../helpers/tmp.js';

describe('users file', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let file: string;
  beforeEach(async () => {
    dir = await tempDir();
    file = join(dir.path, 'users.htpasswd');
  });
  afterEach(async () => dir.remove());

  it('reads what htpasswd -B writes ($2y$)', async () => {
    execFileSync('htpasswd', ['-cbB', '-C', '4', file, 'alice', 'wonder land']);
    execFileSync('htpasswd', ['-bB', '-C', '4', file, 'bob', 'builder']);
    const users = new UserStore(file, pino({ level: 'silent' }));
    expect(await users.verify('alice', 'wonder land')).toBe(true);
    expect(await users.verify('bob', 'builder')).toBe(true);
    expect(await users.verify('alice', 'builder')).toBe(false);
    expect(await users.verify('alice', 'wonder land ')).toBe(false);
    expect(await users.verify('nobody', 'builder')).toBe(false);
    expect(await users.verify('', '')).toBe(false);
  });

  it('sees changes to the file without a restart', async () => {
    const users = new UserStore(file, pino({ level: 'silent' }));
    expect(await users.exists('carol')).toBe(false); // no file yet: nobody
    execFileSync('htpasswd', ['-cbB', '-C', '4', file, 'carol', 'one']);
    expect(await users.verify('carol', 'one')).toBe(true);
    execFileSync('htpasswd', ['-bB', '-C', '4', file, 'carol', 'two']);
    expect(await users.verify('carol', 'one')).toBe(false);
    expect(await users.verify('carol', 'two')).toBe(true);
    execFileSync('htpasswd', ['-D', file, 'carol']);
    expect(await users.exists('carol')).toBe(false);
  });

  it('ignores comments, blank lines and CRLF; refuses non-bcrypt hashes', async () => {
    const bcryptLine = execFileSync('htpasswd', ['-nbB', '-C', '4', 'dave', 'pw']).toString().trim();
    const md5Line = execFileSync('htpasswd', ['-nbm', 'erin', 'pw']).toString().trim();
    await writeFile(file, `# team\r\n\r\n${bcryptLine}\r\n${md5Line}\r\n`);
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => lines.push(line) });
    const users = new UserStore(file, log);
    expect(await users.verify('dave', 'pw')).toBe(true);
    expect(await users.verify('erin', 'pw')).toBe(false);
    expect(lines.join('')).toMatch(/only bcrypt hashes are supported/);
    expect([...parseHtpasswd(`${bcryptLine}\n`).keys()]).toEqual(['dave']);
    expect(serializeHtpasswd(new Map([['a', 'h1'], ['b', 'h2']]))).toBe('a:h1\nb:h2\n');
  });

  it('takes as long for an unknown user as for a wrong password (a bcrypt comparison either way)', async () => {
    execFileSync('htpasswd', ['-cbB', '-C', '10', file, 'alice', 'pw']);
    const users = new UserStore(file, pino({ level: 'silent' }));
    await users.verify('alice', 'warm-up');
    // Interleaved, so a burst of load elsewhere hits both sides alike.
    let known = 0;
    let unknown = 0;
    for (let i = 0; i < 4; i++) {
      for (const name of ['alice', 'mallory']) {
        const start = performance.now();
        await users.verify(name, 'wrong');
        const ms = performance.now() - start;
        if (name === 'alice') known += ms;
        else unknown += ms;
      }
    }
    expect(unknown).toBeGreaterThan(known * 0.4);
    expect(unknown).toBeLessThan(known * 2.5);
  });

  it('fingerprints hashes (refresh tokens die with a password change)', () => {
    expect(hashFingerprint('$2y$04$a')).not.toBe(hashFingerprint('$2y$04$b'));
    expect(hashFingerprint('$2y$04$a')).toHaveLength(22);
  });
});
