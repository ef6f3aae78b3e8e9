/**
 * A fake GitHub API for build tests: Koa on 127.0.0.1 and an ephemeral port. It serves
 * repositories (metadata, commits, tarballs) and records the commit statuses it receives.
 *
 * Tarballs are made as GitHub makes them: a `pax_global_header` entry (type `g`, holding the
 * commit id) and every file under one top-level folder `owner-repo-<short sha>/`; the API answers
 * `tarball/{ref}` with a 302 to a codeload-like URL carrying a signed token (no Authorization
 * needed or wanted there), as GitHub does.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PassThrough, Readable, Transform } from 'node:stream';
import { createGzip } from 'node:zlib';
import Router from '@koa/router';
import Koa from 'koa';
import tar from 'tar-stream';

export interface TarEntry {
  /** The name inside the archive, as is (the top folder is not added for raw entries). */
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'fifo';
  content?: Buffer | string;
  linkname?: string;
  mode?: number;
  /** A file of this many bytes streamed from a generator (big tarballs without holding them). */
  size?: number;
  /** Makes the bytes of a `size` file (default: random). */
  fill?: (size: number) => Readable;
}

export interface Commit {
  sha: string;
  message: string;
  /** Produces the gzipped tarball (a new stream per request). */
  tarball: () => Readable;
}

export interface RecordedStatus {
  repository: string;
  sha: string;
  state: string;
  context: string;
  target_url: string;
  description: string;
  authorization: string | undefined;
}

export interface FakeRepository {
  fullName: string;
  defaultBranch: string;
  /** Private repositories answer 404 without this token, as GitHub does. */
  token?: string;
  commits: Map<string, Commit>;
  /** `heads/main` or `tags/v1` -> sha. */
  refs: Map<string, string>;
}

export function randomSha(): string {
  return randomBytes(20).toString('hex');
}

/** Turns the first tar header (a plain file named pax_global_header) into a type `g` header. */
function globalHeaderPatch(): Transform {
  let done = false;
  let head = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (done) return callback(null, chunk);
      head = Buffer.concat([head, chunk]);
      if (head.length < 512) return callback();
      head[156] = 'g'.charCodeAt(0);
      head.fill(0x20, 148, 156);
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += head[i]!;
      head.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
      done = true;
      callback(null, head);
    },
    flush(callback) {
      callback(null, done ? undefined : head);
    },
  });
}

function randomFill(size: number): Readable {
  let left = size;
  return new Readable({
    read() {
      if (left <= 0) return this.push(null);
      const n = Math.min(left, 1024 * 1024);
      left -= n;
      this.push(randomBytes(n));
    },
  });
}

/**
 * A gzipped tarball of raw entries, with GitHub's pax_global_header first. Entries stream one
 * after the other, so a huge tarball never sits in memory.
 */
export function tarballOf(entries: TarEntry[] | (() => AsyncIterable<TarEntry>), sha = randomSha()): Readable {
  const pack = tar.pack();
  const out = new PassThrough();
  void (async () => {
    const add = (header: Parameters<typeof pack.entry>[0], content?: Buffer): Promise<void> =>
      new Promise((resolve, reject) => {
        pack.entry(header, content ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
      });
    const pax = Buffer.from(`52 comment=${sha}\n`);
    await add({ name: 'pax_global_header', type: 'file', size: pax.length, mode: 0o666 }, pax);
    const list = typeof entries === 'function' ? entries() : entries;
    for await (const e of list) {
      const type = e.type ?? 'file';
      const mode = e.mode ?? (type === 'directory' ? 0o755 : 0o644);
      if (type === 'file' && e.size !== undefined) {
        await new Promise<void>((resolve, reject) => {
          const sink = pack.entry({ name: e.name, type, size: e.size, mode, mtime: new Date(0) }, (err) => (err ? reject(err) : resolve()));
          (e.fill ?? randomFill)(e.size!).pipe(sink as unknown as NodeJS.WritableStream);
        });
      } else {
        await add({ name: e.name, type, mode, linkname: e.linkname, mtime: new Date(0) }, type === 'file' ? Buffer.from(e.content ?? '') : undefined);
      }
    }
    pack.finalize();
  })().catch((err: Error) => out.destroy(err));
  return (pack as unknown as Readable).pipe(globalHeaderPatch()).pipe(createGzip({ level: 1 })).pipe(out);
}

/** Entries for a fixture folder under GitHub's top-level folder (files, folders, symlinks). */
export async function folderEntries(dir: string, top: string): Promise<TarEntry[]> {
  const entries: TarEntry[] = [{ name: `${top}/`, type: 'directory' }];
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(dir, rel))).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const info = await lstat(join(dir, path));
      if (info.isDirectory()) {
        entries.push({ name: `${top}/${path}/`, type: 'directory' });
        await walk(path);
      } else if (info.isSymbolicLink()) {
        entries.push({ name: `${top}/${path}`, type: 'symlink', linkname: await readlink(join(dir, path)) });
      } else {
        entries.push({ name: `${top}/${path}`, content: await readFile(join(dir, path)), mode: info.mode & 0o777 });
      }
    }
  };
  await walk('');
  return entries;
}

export async function bufferOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export class FakeGitHub {
  readonly repositories = new Map<string, FakeRepository>();
  readonly statuses: RecordedStatus[] = [];
  /** Authorization headers seen on codeload (must stay empty: tokens go to the API only). */
  readonly codeloadAuthorizations: string[] = [];
  readonly requests: string[] = [];
  private constructor(
    private readonly servers: Server[],
    readonly url: string,
    readonly codeloadUrl: string,
  ) {}

  static async start(): Promise<FakeGitHub> {
    const koa = new Koa();
    // A download Berth stops on purpose (a hostile tarball) resets the stream: not worth a line.
    koa.silent = true;
    const router = new Router();
    // koa.callback() takes the middleware there is when called: the routes come first.
    let fake: FakeGitHub | undefined;
    koa.use(async (ctx, next) => {
      fake!.requests.push(`${ctx.method} ${ctx.path}`);
      await next();
    });
    koa.use(router.routes());
    // Two ports, two origins: the API, and "codeload" where tarball downloads are redirected.
    const [server, codeload] = [createServer(koa.callback()), createServer(koa.callback())];
    for (const s of [server, codeload]) await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const url = (s: Server): string => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    fake = new FakeGitHub([server, codeload], url(server), url(codeload));
    fake.routes(router);
    return fake;
  }

  /** Adds (or returns) a repository. */
  repository(fullName: string, options: { defaultBranch?: string; token?: string } = {}): FakeRepository {
    let repo = this.repositories.get(fullName.toLowerCase());
    if (!repo) {
      repo = { fullName, defaultBranch: options.defaultBranch ?? 'main', token: options.token, commits: new Map(), refs: new Map() };
      this.repositories.set(fullName.toLowerCase(), repo);
    }
    return repo;
  }

  /** Adds a commit whose tree is a fixture folder (or raw entries); points `refs` at it. */
  async commit(
    fullName: string,
    source: { dir?: string; entries?: TarEntry[] | (() => AsyncIterable<TarEntry>); tarballFile?: string },
    options: { message?: string; refs?: string[]; sha?: string } = {},
  ): Promise<string> {
    const repo = this.repository(fullName);
    const sha = options.sha ?? randomSha();
    const top = `${fullName.replace('/', '-')}-${sha.slice(0, 7)}`;
    const entries = source.dir ? await folderEntries(source.dir, top) : (source.entries ?? []);
    // A tarball made beforehand (big ones: served at disk speed, not made on every request).
    const tarball = source.tarballFile ? () => createReadStream(source.tarballFile!) : () => tarballOf(entries, sha);
    repo.commits.set(sha, { sha, message: options.message ?? 'a commit', tarball });
    for (const ref of options.refs ?? []) repo.refs.set(ref, sha);
    return sha;
  }

  async close(): Promise<void> {
    for (const server of this.servers) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  private find(ctx: Koa.Context, owner: string, name: string): FakeRepository | undefined {
    const repo = this.repositories.get(`${owner}/${name}`.toLowerCase());
    if (!repo) return undefined;
    if (repo.token && ctx.get('Authorization') !== `Bearer ${repo.token}`) return undefined;
    return repo;
  }

  private resolve(repo: FakeRepository, ref: string): Commit | undefined {
    const sha = repo.refs.get(ref) ?? repo.refs.get(`heads/${ref}`) ?? repo.refs.get(`tags/${ref}`) ?? ref;
    return repo.commits.get(sha) ?? [...repo.commits.values()].find((c) => ref.length >= 7 && c.sha.startsWith(ref));
  }

  private routes(router: Router): void {
    const notFound = (ctx: Koa.Context): void => {
      ctx.status = 404;
      ctx.body = { message: 'Not Found' };
    };
    router.get('/repos/:owner/:repo', (ctx) => {
      const repo = this.find(ctx, ctx.params.owner!, ctx.params.repo!);
      if (!repo) return notFound(ctx);
      ctx.body = { full_name: repo.fullName, default_branch: repo.defaultBranch, private: repo.token !== undefined };
    });
    router.get('/repos/:owner/:repo/commits/*ref', (ctx) => {
      const repo = this.find(ctx, ctx.params.owner!, ctx.params.repo!);
      const commit = repo && this.resolve(repo, ctx.params.ref!);
      if (!commit) return notFound(ctx);
      ctx.body = { sha: commit.sha, commit: { message: commit.message } };
    });
    router.get('/repos/:owner/:repo/tarball/*ref', (ctx) => {
      const repo = this.find(ctx, ctx.params.owner!, ctx.params.repo!);
      const commit = repo && this.resolve(repo, ctx.params.ref!);
      if (!repo || !commit) return notFound(ctx);
      const signature = createHash('sha256').update(commit.sha).digest('hex').slice(0, 16);
      ctx.redirect(`${this.codeloadUrl}/codeload/${repo.fullName}/legacy.tar.gz/${commit.sha}?token=${signature}`);
    });
    router.get('/codeload/:owner/:repo/legacy.tar.gz/:sha', (ctx) => {
      const auth = ctx.get('Authorization');
      if (auth) this.codeloadAuthorizations.push(auth);
      const repo = this.repositories.get(`${ctx.params.owner}/${ctx.params.repo}`.toLowerCase());
      const commit = repo?.commits.get(ctx.params.sha!);
      const expected = commit && createHash('sha256').update(commit.sha).digest('hex').slice(0, 16);
      if (!commit || ctx.query.token !== expected) return notFound(ctx);
      ctx.type = 'application/x-gzip';
      ctx.body = commit.tarball();
    });
    router.post('/repos/:owner/:repo/statuses/:sha', async (ctx) => {
      const repo = this.find(ctx, ctx.params.owner!, ctx.params.repo!);
      if (!repo || !ctx.get('Authorization')) return notFound(ctx);
      const body = JSON.parse((await bufferOf(ctx.req)).toString('utf8')) as Omit<RecordedStatus, 'repository' | 'sha' | 'authorization'>;
      this.statuses.push({ ...body, repository: repo.fullName, sha: ctx.params.sha!, authorization: ctx.get('Authorization') || undefined });
      ctx.status = 201;
      ctx.body = { id: this.statuses.length, state: body.state };
    });
  }
}

/** A delivery signed like GitHub's: the headers and the exact body bytes. */
export function signedDelivery(
  secret: string,
  event: string,
  payload: unknown,
  delivery: string = randomBytes(16).toString('hex'),
): { body: Buffer; headers: Record<string, string> } {
  const body = Buffer.from(JSON.stringify(payload));
  return {
    body,
    headers: {
      'Content-Type': 'application/json',
      'User-Agent': 'GitHub-Hookshot/test',
      'X-GitHub-Event': event,
      'X-GitHub-Delivery': delivery,
      'X-Hub-Signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
    },
  };
}

/** A push event payload, with the fields Berth reads and a few it does not. */
export function pushPayload(options: { repository: string; ref: string; sha: string; message?: string; defaultBranch?: string; deleted?: boolean }): Record<string, unknown> {
  return {
    ref: options.ref,
    before: '0'.repeat(40),
    after: options.deleted ? '0'.repeat(40) : options.sha,
    created: !options.deleted,
    deleted: options.deleted ?? false,
    forced: false,
    head_commit: options.deleted ? null : { id: options.sha, message: options.message ?? 'a commit', timestamp: new Date().toISOString() },
    commits: [],
    repository: { full_name: options.repository, name: options.repository.split('/')[1], default_branch: options.defaultBranch ?? 'main', private: false },
    pusher: { name: 'octocat' },
    sender: { login: 'octocat' },
  };
}
