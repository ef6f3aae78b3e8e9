/**
 * `berth user add|passwd|remove|list` (the users file) and `berth token create|revoke|list`
 * (robot tokens, kept in storage). Every command takes `--config FILE`.
 */
import { randomBytes } from 'node:crypto';
import { chmod, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import bcrypt from 'bcryptjs';
import { commandConfig, UsageError } from '../cli-util.js';
import { createStorageDriver } from '../storage.js';
import { parseExpiry } from './expiry.js';
import { AccessPolicy } from './access.js';
import type { AuthConfig } from './config.js';
import type { Action } from './permissions.js';
import { formatRobotScope, isExpired, parseRobotScope, type RobotRecord, type RobotScope, RobotScopeError, RobotStore } from './robots.js';
import { BCRYPT_COST, isValidUserName, parseHtpasswd, serializeHtpasswd } from './users.js';

const USER_USAGE = `usage: berth user <add|passwd|remove|list> [NAME] [options]

  add NAME [--password-stdin]      add a user (asks for the password on a terminal)
  passwd NAME [--password-stdin]   set a user's password
  remove NAME                      remove a user
  list                             list user names

options:
  --password-stdin   read the password from standard input (one trailing newline is dropped);
                     passwords have at least 12 characters
  --config FILE      config file (its auth.usersFile is the file changed)
`;

const TOKEN_USAGE = `usage: berth token <create|revoke|list> [options]

  create --user NAME --scope SCOPE [--scope SCOPE...] [--expires 30d|12h|never] [--description TEXT] [--json]
        prints the token's id and its secret, once; use the secret as NAME's password
        (docker login -u NAME --password-stdin). SCOPE: 'repository:team/*:pull,push',
        'repository:app:pull', 'registry:catalog:*'.
  revoke ID             revoke a token (replicas notice within seconds)
  list [--user NAME]    list tokens (never their secrets)

options:
  --config FILE   config file (robot tokens live in its storage)
`;

/** A failure the user can fix: one line on stderr, exit status 1. */
function fail(message: string): void {
  process.stderr.write(`berth: ${message}\n`);
  process.exitCode = 1;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Asks on the terminal without echo. */
async function prompt(question: string): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (!muted) process.stderr.write(chunk);
      callback();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  try {
    return await new Promise<string>((resolve) => {
      rl.question(question, (answer) => resolve(answer));
      muted = true;
    });
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}

/** Shorter passwords are refused: a users file may leak, and bcrypt at cost 10 only slows guessing. */
export const MIN_PASSWORD_LENGTH = 12;

async function readPassword(fromStdin: boolean): Promise<string> {
  let password: string;
  if (fromStdin) {
    password = (await readStdin()).replace(/\r?\n$/, '');
  } else if (process.stdin.isTTY) {
    password = await prompt('Password: ');
    if ((await prompt('Again: ')) !== password) throw new UsageError('the passwords differ');
  } else {
    throw new UsageError('standard input is not a terminal: use --password-stdin');
  }
  if (password === '') throw new UsageError('the password is empty');
  if (/[\r\n]/.test(password)) throw new UsageError('the password must be one line');
  if ([...password].length < MIN_PASSWORD_LENGTH) throw new UsageError(`the password must be at least ${MIN_PASSWORD_LENGTH} characters long`);

  if (Buffer.byteLength(password) > 72) throw new UsageError('the password is longer than 72 bytes (bcrypt ignores the rest): choose a shorter one');
  return password;
}

async function readUsers(file: string): Promise<Map<string, string>> {
  try {
    return parseHtpasswd(await readFile(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw err;
  }
}

/** Replaces the file atomically; a new file gets mode 0600, an existing one keeps its mode. */
async function writeUsers(file: string, users: Map<string, string>): Promise<void> {
  let mode = 0o600;
  try {
    mode = (await stat(file)).mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const temp = join(dirname(file), `.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temp, serializeHtpasswd(users), { mode: 0o600, flag: 'wx' });
    await chmod(temp, mode);
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

export async function runUserCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: { config: { type: 'string' }, 'password-stdin': { type: 'boolean' }, help: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  const [command, name, ...extra] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(USER_USAGE);
    return;
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
  const auth = commandConfig(values.config).auth;
  const file = auth.usersFile;
  const users = await readUsers(file);

  if (command === 'list') {
    for (const user of users.keys()) process.stdout.write(`${user}\n`);
    return;
  }
  if (!['add', 'passwd', 'remove'].includes(command)) throw new UsageError(`unknown user command ${JSON.stringify(command)}`);
  if (name === undefined) throw new UsageError(`berth user ${command}: NAME is required`);
  if (!isValidUserName(name)) throw new UsageError(`invalid user name ${JSON.stringify(name)}: letters, digits, . _ @ - (up to 64, starting with a letter or digit)`);

  if (command === 'remove') {
    if (!users.delete(name)) return fail(`no user ${name} in ${file}`);
    await writeUsers(file, users);
    process.stderr.write(`removed user ${name} from ${file}\n`);
    return;
  }
  if (command === 'add' && users.has(name)) return fail(`user ${name} already exists in ${file} (use berth user passwd)`);
  if (command === 'passwd' && !users.has(name)) return fail(`no user ${name} in ${file} (use berth user add)`);
  const password = await readPassword(values['password-stdin'] === true);
  users.set(name, await bcrypt.hash(password, BCRYPT_COST));
  await writeUsers(file, users);
  process.stderr.write(`${command === 'add' ? 'added user' : 'changed the password of'} ${name} in ${file}\n`);
  if (auth.mode !== 'token') {
    process.stderr.write(
      `berth: warning: auth.mode is none in ${values.config ?? 'the default config'}: the server asks nobody for a password ` +
        `until auth.mode is token (and auth.usersFile names ${file})\n`,
    );
  }
}

/** A token as `token list --json` and `token create --json` show it: never its hash, scopes as written. */
function shownToken(record: RobotRecord): Record<string, unknown> {
  const { hash: _hash, scopes, ...rest } = record;
  return { ...rest, scopes: scopes.map(formatRobotScope), state: isExpired(record) ? 'expired' : 'active' };
}

/**
 * The scopes of a new token its user's rules give nothing on (the token would be refused there),
 * as warnings. Checked on a name each pattern matches (its `*`s as `x`): rules and patterns are
 * both globs, so this is an example, not a proof.
 */
function uselessScopes(auth: AuthConfig, user: string, scopes: RobotScope[]): string[] {
  if (auth.mode === 'none') return [];
  const policy = new AccessPolicy(auth.rules, auth.teams);
  const warnings: string[] = [];
  for (const scope of scopes) {
    if (scope.type !== 'repository') continue;
    const example = scope.pattern.replaceAll('*', 'x');
    const granted = policy.actions({ kind: 'user', name: user }, example);
    const wanted = scope.actions.includes('*') ? ['pull', 'push', 'delete'] : scope.actions;
    const missing = wanted.filter((action) => !granted.has(action as Action));
    if (missing.length === 0) continue;
    warnings.push(
      `auth.rules do not let ${user} ${missing.join(' or ')} ${example} (matching ${scope.pattern}): the token cannot either; add a rule such as { repository: "${scope.pattern}", user: ${user}, actions: [${wanted.join(', ')}] }`,
    );
  }
  return warnings;
}

export async function runTokenCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      user: { type: 'string' },
      scope: { type: 'string', multiple: true },
      expires: { type: 'string' },
      description: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
    allowPositionals: true,
    strict: true,
  });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(TOKEN_USAGE);
    return;
  }
  const config = commandConfig(values.config);
  const robots = new RobotStore(await createStorageDriver(config.storage));

  switch (command) {
    case 'create': {
      if (rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
      const user = values.user;
      if (!user) throw new UsageError('berth token create: --user NAME is required');
      if (!values.scope?.length) throw new UsageError("berth token create: --scope is required (for example --scope 'repository:team/*:pull,push')");
      let scopes;
      try {
        scopes = values.scope.map(parseRobotScope);
      } catch (err) {
        if (err instanceof RobotScopeError) throw new UsageError(err.message);
        throw err;
      }
      let expiresIn: number | null;
      try {
        expiresIn = parseExpiry(values.expires ?? config.auth.robotTokenExpiry);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      if (!(await readUsers(config.auth.usersFile)).has(user)) return fail(`no user ${user} in ${config.auth.usersFile}: add it first (berth user add)`);
      for (const warning of uselessScopes(config.auth, user, scopes)) process.stderr.write(`berth: warning: ${warning}\n`);
      const { record, secret } = await robots.create({ user, scopes, expiresIn, ...(values.description ? { description: values.description } : {}) });
      if (values.json) {
        process.stdout.write(`${JSON.stringify({ ...shownToken(record), secret })}\n`);
      } else {
        process.stdout.write(
          `id:      ${record.id}\nuser:    ${user}\nscope:   ${scopes.map(formatRobotScope).join(' ')}\nexpires: ${record.expires ?? 'never'}\nsecret:  ${secret}\n`,
        );
        process.stderr.write(`The secret is shown only now. Use it as ${user}'s password, e.g. docker login -u ${user} --password-stdin REGISTRY\n`);
      }
      return;
    }
    case 'revoke': {
      const [id, ...extra] = rest;
      if (!id || extra.length > 0) throw new UsageError('berth token revoke: give exactly one token ID');
      if (!/^[a-z0-9]{16}$/.test(id)) throw new UsageError(`invalid token id ${JSON.stringify(id)}`);
      if (!(await robots.revoke(id))) return fail(`no token ${id}`);
      process.stderr.write(`revoked token ${id}\n`);
      return;
    }
    case 'list': {
      const records = (await robots.list()).filter((r) => !values.user || r.user === values.user);
      if (values.json) {
        process.stdout.write(`${JSON.stringify(records.map(shownToken))}\n`);
        return;
      }
      for (const r of records) {
        const state = isExpired(r) ? 'expired' : 'active';
        process.stdout.write(`${r.id}  ${r.user}  ${r.scopes.map(formatRobotScope).join(' ')}  created ${r.created}  expires ${r.expires ?? 'never'}  ${state}${r.description ? `  ${r.description}` : ''}\n`);
      }
      return;
    }
    default:
      throw new UsageError(`unknown token command ${JSON.stringify(command)}`);
  }
}
