/**
 * Runs an external command (buildah) with its output, line by line, going to a build log, and
 * stops it when the build is aborted: SIGTERM, then SIGKILL if it lingers.
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';

export interface CommandOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  log: (line: string) => void;
  signal?: AbortSignal;
  /** Grace between SIGTERM and SIGKILL. */
  killAfterMs?: number;
  /** How messages name the command (`buildah bud`). */
  name?: string;
}

export class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
    /** The last lines it printed on stderr, for the build's error. */
    readonly lastLines: string[],
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

const KEEP_LINES = 20;
const MAX_LINE = 16 * 1024;

/**
 * Calls `onLine` for each line of a stream; a line longer than MAX_LINE is passed on in pieces
 * (a build printing without newlines must not grow Berth's memory). Resolves at the end.
 */
function eachLine(stream: Readable, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve) => {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      partial += chunk;
      let at: number;
      while ((at = partial.indexOf('\n')) >= 0) {
        onLine(partial.slice(0, at).replace(/\r$/, ''));
        partial = partial.slice(at + 1);
      }
      while (partial.length > MAX_LINE) {
        onLine(partial.slice(0, MAX_LINE));
        partial = partial.slice(MAX_LINE);
      }
    });
    const end = (): void => {
      if (partial) onLine(partial);
      partial = '';
      resolve();
    };
    stream.once('end', end);
    stream.once('error', end);
    stream.once('close', end);
  });
}

/**
 * Resolves when the command exits 0; rejects with CommandError otherwise, or with the abort
 * reason. The command runs in its own process group, so that an abort stops what it started
 * too (buildah's RUN steps), not only the command itself.
 */
export function runCommand(command: string, args: string[], options: CommandOptions): Promise<void> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const name = options.name ?? command;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    // What it said last on stderr: where buildah puts its error (the steps go to stdout).
    const last: string[] = [];
    const onOut = (line: string): void => options.log(line);
    const onErr = (line: string): void => {
      options.log(line);
      if (line.trim() === '') return;
      last.push(line);
      if (last.length > KEEP_LINES) last.shift();
    };
    let pending = 2;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let spawnError: Error | undefined;
    let settled = false;
    let killer: NodeJS.Timeout | undefined;
    let drain: NodeJS.Timeout | undefined;
    const killGroup = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        // the group is gone already
      }
    };
    const finish = (): void => {
      if (settled || !exit || (pending > 0 && !spawnError)) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      clearTimeout(killer);
      clearTimeout(drain);
      if (spawnError) reject(spawnError);
      else if (signal?.aborted) reject(signal.reason);
      else if (exit.code === 0) resolve();
      else {
        const how = exit.code === null ? `was killed by ${exit.signal}` : `exited with status ${exit.code}`;
        reject(new CommandError(`${name} ${how}`, exit.code, last));
      }
    };
    for (const [stream, onLine] of [
      [child.stdout, onOut],
      [child.stderr, onErr],
    ] as const) {
      void eachLine(stream, onLine).then(() => {
        pending -= 1;
        finish();
      });
    }
    const onAbort = (): void => {
      killGroup('SIGTERM');
      killer = setTimeout(() => killGroup('SIGKILL'), options.killAfterMs ?? 5000);
      killer.unref();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    child.once('error', (err) => {
      spawnError = err;
      exit ??= { code: null, signal: null };
      finish();
    });
    child.once('exit', (code, sig) => {
      exit = { code, signal: sig };
      // Something it started may still hold the output pipes: stop waiting for them after a while.
      drain = setTimeout(() => {
        killGroup('SIGKILL');
        child.stdout.destroy();
        child.stderr.destroy();
      }, 2000);
      drain.unref();
      finish();
    });
  });
}
