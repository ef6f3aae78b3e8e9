/**
 * Graceful shutdown and restarts of a Berth process: SIGTERM while uploads stream in (they finish,
 * new connections are refused, the process exits 0), and a chunked upload that a restart
 * interrupts (between chunks after SIGTERM, or in the middle of one after SIGKILL) going on, and
 * finishing whole, on the next process.
 */
import { createHash, randomBytes } from 'node:crypto';
import { rm, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Client, sha256, withQuery } from '../helpers/http.js';
import { sleep } from '../helpers/load.js';
import { type ServerProcess, startServerProcess, writeConfigFile } from '../helpers/process-server.js';
import { filesystemConfig } from '../helpers/server.js';

const KiB = 1024;

/**
 * PATCHes `data` in `chunks` pieces, one every `everyMs`, on its own connection. `onSent(n)` is
 * called after each piece. Resolves with the answer, or with the error when the connection broke.
 */
function slowPatch(url: string, data: Buffer, chunks: number, everyMs: number, headers: Record<string, string> = {}, onSent?: (bytes: number) => void): Promise<{ status: number; range?: string } | Error> {
  const target = new URL(url);
  return new Promise((resolve) => {
    const req = request({ host: target.hostname, port: target.port, path: target.pathname + target.search, method: 'PATCH', agent: false, headers });
    req.on('error', resolve);
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, range: res.headers.range }));
    });
    const size = Math.ceil(data.length / chunks);
    let sent = 0;
    const next = (): void => {
      if (sent >= data.length) {
        req.end();
        return;
      }
      const piece = data.subarray(sent, sent + size);
      sent += piece.length;
      req.write(piece, () => onSent?.(sent));
      setTimeout(next, everyMs);
    };
    next();
  });
}

function connectionRefused(url: string): Promise<boolean> {
  const target = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(target.port), target.hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

describe('graceful shutdown and restarts', { timeout: 120_000 }, () => {
  let configFile: string;
  let root: string;
  let cleanup: () => Promise<void>;
  const servers: ServerProcess[] = [];
  const start = async (listen?: string) => {
    const server = await startServerProcess(configFile, listen);
    servers.push(server);
    return server;
  };

  beforeEach(async () => {
    const made = await filesystemConfig();
    cleanup = made.cleanup;
    root = made.config.storage.filesystem.root;
    configFile = await writeConfigFile(made.config, `${made.config.storage.filesystem.root}.json`);
  });
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.stop('SIGKILL');
    await rm(configFile, { force: true });
    await cleanup();
  });

  it('on SIGTERM, finishes the uploads in flight, refuses new connections, and exits 0', async () => {
    const server = await start();
    const client = new Client(server.url);
    const uploads = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const data = randomBytes(600 * KiB);
        return { data, location: new URL(await client.startUpload('shutdown/app'), server.url).href };
      }),
    );
    const inFlight = uploads.map(({ data, location }) => slowPatch(location, data, 20, 80));
    // In flight means the server is at it: each upload's bytes are arriving in storage. (A
    // connection whose request the server has not read yet is idle to Node, and closed at once.)
    const stored = (location: string) => stat(join(root, `repositories${new URL(location).pathname.replace('/v2', '').replace('/blobs/uploads', '/_uploads')}`, 'data')).then((s) => s.size, () => 0);
    for (const { location } of uploads) while ((await stored(location)) === 0) await sleep(20);

    const exited = server.stop('SIGTERM');
    await sleep(150);
    expect(await connectionRefused(server.url)).toBe(true); // new connections: refused at once
    const answers = await Promise.all(inFlight);
    for (const [i, answer] of answers.entries()) expect(answer, `upload ${i}`).toEqual({ status: 202, range: `0-${uploads[i]!.data.length - 1}` });
    expect(await exited).toBe(0);

    // What they sent is all there for the next process, which finishes the uploads.
    const next = await start();
    const again = new Client(next.url);
    for (const { data, location } of uploads) {
      const path = new URL(location).pathname;
      expect((await again.get(path)).headers.get('range')).toBe(`0-${data.length - 1}`);
      expect((await again.request('PUT', withQuery(path, `digest=${sha256(data)}`))).status).toBe(201);
      expect(sha256((await again.get(`/v2/shutdown/app/blobs/${sha256(data)}`)).body)).toBe(sha256(data));
    }
  });

  it('goes on with a chunked upload on the next process after a graceful restart between chunks', async () => {
    const data = randomBytes(900 * KiB);
    const first = await start();
    const location = await new Client(first.url).startUpload('restart/app');
    const one = await new Client(first.url).request('PATCH', location, { body: data.subarray(0, 300 * KiB), headers: { 'Content-Range': `0-${300 * KiB - 1}` } });
    expect(one.status).toBe(202);
    expect(await first.stop('SIGTERM')).toBe(0);

    const second = await start();
    const client = new Client(second.url);
    expect((await client.get(location)).headers.get('range')).toBe(`0-${300 * KiB - 1}`);
    const two = await client.request('PATCH', location, { body: data.subarray(300 * KiB), headers: { 'Content-Range': `${300 * KiB}-${data.length - 1}` } });
    expect(two.status).toBe(202);
    expect((await client.request('PUT', withQuery(location, `digest=${sha256(data)}`))).status).toBe(201);
    expect((await client.get(`/v2/restart/app/blobs/${sha256(data)}`)).body.equals(data)).toBe(true);
  });

  it('goes on from what was stored when the process died in the middle of a chunk', async () => {
    const data = randomBytes(2048 * KiB);
    const first = await start();
    const location = await new Client(first.url).startUpload('crash/app');
    let sent = 0;
    const dying = slowPatch(new URL(location, first.url).href, data, 64, 20, {}, (bytes) => (sent = bytes));
    while (sent < 700 * KiB) await sleep(10);
    await first.stop('SIGKILL');
    expect(await dying).toBeInstanceOf(Error); // the client saw the connection break

    const second = await start();
    const client = new Client(second.url);
    const range = (await client.get(location)).headers.get('range')!;
    const stored = Number(range.split('-')[1]) + 1;
    expect(stored).toBeGreaterThan(0);
    expect(stored).toBeLessThanOrEqual(sent);
    // The client resumes from what the registry says it holds (the spec's recovery), on the new process.
    const rest = await client.request('PATCH', location, { body: data.subarray(stored), headers: { 'Content-Range': `${stored}-${data.length - 1}` } });
    expect(rest.status).toBe(202);
    expect((await client.request('PUT', withQuery(location, `digest=${sha256(data)}`))).status).toBe(201);
    const got = await client.get(`/v2/crash/app/blobs/${sha256(data)}`);
    expect(createHash('sha256').update(got.body).digest('hex')).toBe(sha256(data).slice(7));
  });
});
