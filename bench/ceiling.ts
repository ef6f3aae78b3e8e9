/**
 * The "ceiling": a bare node:http server over Berth's own data directory, answering the bench's
 * read requests with no framework, no checks and no storage work per small request. It shows
 * what Node itself can do on this machine, so the report can say how much of that Berth reaches.
 *
 *   GET /v2/                                  {}
 *   GET|HEAD /v2/<name>/blobs/<digest>        the blob file Berth stored, sent through a few
 *                                             reused 1 MiB buffers (the fastest way found here);
 *                                             HEAD from a size cached after the first look
 *   GET|HEAD /v2/<name>/manifests/<tag>       from memory after the first read of Berth's files
 *   GET /v2/<name>/tags/list                  from memory after the first listing
 *
 * Read-only, and it trusts Berth's layout; it is a yardstick, not a registry.
 * Run: node dist/bench/ceiling.js --root DIR --listen 127.0.0.1:PORT
 */
import { close, open, read, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { root: { type: 'string' }, listen: { type: 'string' } } });
if (!values.root || !values.listen) throw new Error('usage: ceiling.js --root DIR --listen HOST:PORT');
const root = values.root;
const [host, port] = [values.listen.slice(0, values.listen.lastIndexOf(':')), Number(values.listen.slice(values.listen.lastIndexOf(':') + 1))];

const CHUNK = 1024 * 1024;
const idle: Buffer[] = [];
const take = (): Buffer => idle.pop() ?? Buffer.allocUnsafeSlow(CHUNK);
const give = (buffer: Buffer): void => {
  if (idle.length < 8) idle.push(buffer);
};

const ROUTE = /^\/v2\/(.+)\/(blobs|manifests|tags)\/([^/]+)$/;

function blobPath(digest: string): string {
  const [algorithm, hex] = digest.split(':') as [string, string];
  return join(root, 'blobs', algorithm, hex.slice(0, 2), hex, 'data');
}

const sizes = new Map<string, number>();
const manifests = new Map<string, { body: Buffer; type: string; digest: string }>();
const tagLists = new Map<string, Buffer>();

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'Content-Length': 0 }).end();
}

function sendBlob(res: ServerResponse, path: string, size: number): void {
  open(path, 'r', (err, fd) => {
    if (err) return notFound(res);
    let position = 0;
    const readNext = (): Promise<[Buffer, number]> =>
      new Promise((resolve, reject) => {
        const buffer = take();
        read(fd, buffer, 0, Math.min(CHUNK, size - position), position, (error, bytes) => (error ? reject(error) : resolve([buffer, bytes])));
      });
    void (async () => {
      let next: Promise<[Buffer, number]> | undefined = size > 0 ? readNext() : undefined;
      while (next) {
        const [buffer, bytes] = await next;
        position += bytes;
        next = position < size && bytes > 0 ? readNext() : undefined;
        if (res.destroyed) break;
        if (!res.write(buffer.subarray(0, bytes), () => give(buffer))) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              res.off('drain', done).off('close', done);
              resolve();
            };
            res.on('drain', done).on('close', done);
          });
        }
      }
      if (next) await next.catch(() => undefined);
      res.end();
      close(fd, () => {});
    })().catch(() => {
      res.destroy();
      close(fd, () => {});
    });
  });
}

function manifest(name: string, tag: string): { body: Buffer; type: string; digest: string } | undefined {
  const key = `${name}:${tag}`;
  let found = manifests.get(key);
  if (!found) {
    try {
      const digest = readFileSync(join(root, 'repositories', name, '_manifests/tags', tag, 'current/link'), 'utf8').trim();
      const body = readFileSync(blobPath(digest));
      found = { body, type: (JSON.parse(body.toString('utf8')) as { mediaType?: string }).mediaType ?? 'application/json', digest };
      manifests.set(key, found);
    } catch {
      return undefined;
    }
  }
  return found;
}

createServer((req, res) => {
  const url = req.url ?? '/';
  if (url === '/v2/' || url === '/v2') {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 2 }).end('{}');
    return;
  }
  const match = ROUTE.exec(url);
  if (!match) return notFound(res);
  const [, name, kind, last] = match as unknown as [string, string, string, string];
  if (kind === 'blobs') {
    const path = blobPath(last);
    let size = sizes.get(path);
    if (size === undefined) {
      try {
        size = statSync(path).size;
      } catch {
        return notFound(res);
      }
      sizes.set(path, size);
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': size, 'Docker-Content-Digest': last });
    if (req.method === 'HEAD') return res.end();
    return sendBlob(res, path, size);
  }
  if (kind === 'manifests') {
    const found = manifest(name, last);
    if (!found) return notFound(res);
    res.writeHead(200, { 'Content-Type': found.type, 'Content-Length': found.body.length, 'Docker-Content-Digest': found.digest });
    return req.method === 'HEAD' ? res.end() : res.end(found.body);
  }
  let body = tagLists.get(name);
  if (!body) {
    try {
      body = Buffer.from(JSON.stringify({ name, tags: readdirSync(join(root, 'repositories', name, '_manifests/tags')).sort() }));
    } catch {
      return notFound(res);
    }
    tagLists.set(name, body);
  }
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length }).end(body);
}).listen(port, host, () => process.stdout.write(`${JSON.stringify({ msg: 'listening', url: `http://${host}:${port}` })}\n`));
