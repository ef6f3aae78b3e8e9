/**
 * The filesystem pull path (reused 1 MiB buffers, src/http/send-file.ts) against clients that
 * stop reading: the server stops reading the file too (backpressure: at most two buffers held),
 * and when the client goes away the file is closed and every buffer is back in the pool.
 * Open files are counted in /proc/self/fd: the server runs in this process.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadBuffers } from '../../src/http/send-file.js';
import { Client, sha256 } from '../helpers/http.js';
import { filesystemConfig, startTestServer, type TestServer } from '../helpers/server.js';

const MiB = 1024 * 1024;

/** How many descriptors this process holds open on `file`. */
function openCount(file: string): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === file) count += 1;
    } catch {
      // closed while we looked
    }
  }
  return count;
}

/** Polls until `check` holds (or about 10 s pass); returns whether it held. */
async function eventually(check: () => boolean): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (check()) return true;
    await sleep(50);
  }
  return check();
}

/** Sends a GET and resolves once `bytes` of the response (head included) have arrived; then stops reading. */
function startPull(port: number, path: string, bytes: number): Promise<{ socket: Socket; received: Buffer }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const socket = connect(port, '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`));
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      total += chunk.length;
      if (total >= bytes) {
        socket.pause();
        socket.removeAllListeners('data');
        resolve({ socket, received: Buffer.concat(chunks) });
      }
    });
  });
}

describe('a pull whose client stops reading', { timeout: 60_000 }, () => {
  let server: TestServer;
  let cleanup: () => Promise<void>;
  let root: string;
  const blob = randomBytes(48 * MiB);
  const digest = sha256(blob);
  const name = 'release/test';
  let file: string;

  beforeAll(async () => {
    const made = await filesystemConfig();
    cleanup = made.cleanup;
    root = made.config.storage.filesystem.root;
    server = await startTestServer(made.config);
    await new Client(server.url).pushBlob(name, blob);
    file = realpathSync(join(root, 'blobs/sha256', digest.slice(7, 9), digest.slice(7), 'data'));
  });

  afterAll(async () => {
    await server?.close();
    await cleanup?.();
  });

  it('holds at most two buffers while the client does not read, and releases file and buffers when it leaves', async () => {
    expect(openCount(file)).toBe(0);
    const { socket, received } = await startPull(server.port, `/v2/${name}/blobs/${digest}`, 2 * MiB);
    const bodyStart = received.indexOf('\r\n\r\n') + 4;
    expect(received.subarray(0, 12).toString()).toBe('HTTP/1.1 200');
    expect(received.subarray(bodyStart).equals(blob.subarray(0, received.length - bodyStart))).toBe(true);

    // The socket's buffers fill up and the server stops reading ahead: the file stays open,
    // and no more than the buffer being written and the one read next are held.
    await sleep(500);
    expect(openCount(file)).toBe(1);
    expect(downloadBuffers.inUse).toBeGreaterThan(0);
    expect(downloadBuffers.inUse).toBeLessThanOrEqual(2);

    socket.destroy();
    expect(await eventually(() => openCount(file) === 0 && downloadBuffers.inUse === 0)).toBe(true);
  });

  it('releases them when the client hangs up at once, and after complete pulls', async () => {
    const sockets = await Promise.all(Array.from({ length: 5 }, () => startPull(server.port, `/v2/${name}/blobs/${digest}`, 1)));
    for (const { socket } of sockets) socket.destroy();
    const client = new Client(server.url);
    const whole = await client.get(`/v2/${name}/blobs/${digest}`);
    expect(sha256(whole.body)).toBe(digest);
    const range = await client.get(`/v2/${name}/blobs/${digest}`, { Range: `bytes=${MiB - 3}-${3 * MiB}` });
    expect(range.body.equals(blob.subarray(MiB - 3, 3 * MiB + 1))).toBe(true);
    expect(await eventually(() => openCount(file) === 0 && downloadBuffers.inUse === 0)).toBe(true);
  });
});
