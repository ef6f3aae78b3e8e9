/**
 * The users file: `name:bcrypt-hash` lines, as `htpasswd -B` writes them (`$2y$`, also `$2a$` and
 * `$2b$`). The server re-reads it when it changes, so `berth user add` needs no restart.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import bcrypt from 'bcryptjs';
import type { Logger } from 'pino';

/** User names: no `:` (Basic credentials split there), no spaces, nothing odd in logs. */
export const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export function isValidUserName(name: string): boolean {
  return USER_NAME.test(name);
}

const BCRYPT = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;

export function isBcryptHash(hash: string): boolean {
  return BCRYPT.test(hash);
}

/** The cost `berth user add` uses; bcryptjs is pure JS, so higher costs slow every login. */
export const BCRYPT_COST = 10;

/**
 * Compared against when the user is unknown, so that an unknown name takes as long as a wrong
 * password (no user enumeration by timing). The hash of a random string nobody knows.
 */
const DUMMY_HASH = '$2b$10$TymvuWjp94EcEDNxsuReQO4bDGlj5a5a/ZYR9.DZcaLUKAslo5ZEC';

/** Parses the file: name -> hash, in file order. Blank lines and `#` comments are skipped. */
export function parseHtpasswd(text: string): Map<string, string> {
  const users = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#')) continue;
    const at = line.indexOf(':');
    if (at <= 0) continue;
    users.set(line.slice(0, at), line.slice(at + 1).trim());
  }
  return users;
}

export function serializeHtpasswd(users: Map<string, string>): string {
  return [...users].map(([name, hash]) => `${name}:${hash}\n`).join('');
}

/** A short digest of a user's hash: refresh tokens carry it, so a new password voids them. */
export function hashFingerprint(hash: string): string {
  return createHash('sha256').update(`berth-password:${hash}`).digest('base64url').slice(0, 22);
}

export class UserStore {
  private users = new Map<string, string>();
  private version = '';
  private warned = new Set<string>();

  constructor(
    readonly file: string,
    private readonly log: Logger,
  ) {}

  /** The user's bcrypt hash, or undefined when there is no such user (or no usable hash). */
  async hashOf(name: string): Promise<string | undefined> {
    await this.refresh();
    const hash = this.users.get(name);
    return hash !== undefined && isBcryptHash(hash) ? hash : undefined;
  }

  async exists(name: string): Promise<boolean> {
    return (await this.hashOf(name)) !== undefined;
  }

  /**
   * Checks a password; the same work is done whether or not the user exists. The server passes
   * `compare` (its worker threads); the default runs bcryptjs here.
   */
  async verify(name: string, password: string, compare: (password: string, hash: string) => Promise<boolean> = bcrypt.compare): Promise<boolean> {
    const hash = await this.hashOf(name);
    const ok = await compare(password, hash ?? DUMMY_HASH);
    return ok && hash !== undefined;
  }

  /** Re-reads the file when its size, time or inode changed (one stat per login). */
  private async refresh(): Promise<void> {
    let version: string;
    try {
      const info = await stat(this.file);
      version = `${info.ino}:${info.size}:${info.mtimeMs}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.warnOnce('missing', { file: this.file }, 'users file not found: nobody can sign in (add users with `berth user add`)');
      this.users = new Map();
      this.version = '';
      return;
    }
    if (version === this.version) return;
    const users = parseHtpasswd(await readFile(this.file, 'utf8'));
    for (const [name, hash] of users) {
      if (!isBcryptHash(hash)) this.warnOnce(`hash:${name}`, { user: name }, 'users file: only bcrypt hashes are supported (htpasswd -B); this user cannot sign in');
    }
    this.users = users;
    this.version = version;
    this.warned.delete('missing');
  }

  private warnOnce(key: string, fields: Record<string, unknown>, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.log.warn(fields, message);
  }
}
