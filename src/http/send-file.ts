/**
 * Sending a stretch of a file as the response body through a few reused 1 MiB buffers: read a
 * chunk into a pooled buffer, write it to the socket, and read the next chunk while that one
 * drains. Measured here, this pulls about twice as fast as piping a read stream, which allocates
 * a fresh buffer per chunk (and pays its page faults); buffers of 4 MiB or more are slower again.
 *
 * A buffer goes back to the pool only when the socket is done with it (the write's callback),
 * so a slow client holds at most two buffers, never more: the next read waits for `drain`.
 * The pool keeps a few idle buffers and allocates when it runs out, so many downloads at once
 * are never starved by one slow client; whatever it hands out beyond what it keeps is garbage
 * once returned.
 *
 * The response bypasses Koa's body handling (`ctx.respond = false`): status and headers are
 * set on the context beforehand and go out with the first chunk.
 */
import type { ServerResponse } from 'node:http';
import type { Context } from 'koa';
import type { RandomAccessFile } from '../../storage-drivers/driver.js';

const CHUNK = 1024 * 1024;
/** Idle buffers kept for the next downloads (8 MiB). */
const KEEP = 8;

class BufferPool {
  private readonly idle: Buffer[] = [];
  /** Buffers handed out and not yet returned (read by tests: every download returns its own). */
  inUse = 0;

  take(): Buffer {
    this.inUse += 1;
    return this.idle.pop() ?? Buffer.allocUnsafeSlow(CHUNK);
  }

  give(buffer: Buffer): void {
    this.inUse -= 1;
    if (this.idle.length < KEEP) this.idle.push(buffer);
  }
}

export const downloadBuffers = new BufferPool();

interface Chunk {
  buffer: Buffer;
  bytes: number;
}

function readChunk(file: RandomAccessFile, position: number, length: number): Promise<Chunk> {
  const buffer = downloadBuffers.take();
  return file.read(buffer, Math.min(CHUNK, length), position).then(
    (bytes) => ({ buffer, bytes }),
    (err: unknown) => {
      downloadBuffers.give(buffer);
      throw err;
    },
  );
}

/** Resolves once the response may take more, or is gone. */
function writable(res: ServerResponse): Promise<void> {
  if (res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done).off('close', done);
      resolve();
    };
    res.on('drain', done).on('close', done);
  });
}

async function pump(res: ServerResponse, file: RandomAccessFile, start: number, length: number): Promise<void> {
  const end = start + length;
  let position = start;
  let next: Promise<Chunk> | undefined = length > 0 ? readChunk(file, position, length) : undefined;
  try {
    while (next) {
      const { buffer, bytes } = await next;
      next = undefined;
      if (res.destroyed) {
        downloadBuffers.give(buffer);
        return;
      }
      if (bytes === 0) {
        downloadBuffers.give(buffer);
        throw new Error(`file ended ${end - position} bytes early`);
      }
      position += bytes;
      if (position < end) next = readChunk(file, position, end - position);
      const more = res.write(bytes === buffer.length ? buffer : buffer.subarray(0, bytes), () => downloadBuffers.give(buffer));
      if (!more) await writable(res);
    }
    if (!res.destroyed) res.end();
  } finally {
    // A read still under way when the client left: its buffer comes back too.
    if (next) await next.then((chunk) => downloadBuffers.give(chunk.buffer), () => {});
    await file.close();
  }
}

/**
 * Sends `length` bytes of `file` from `start` as the body; the status and headers (with
 * Content-Length) must be set already. Returns at once; the file is closed when the transfer
 * ends, completed or not. A failure midway cuts the connection (the client sees a short body)
 * and is reported as an app error.
 */
export function sendFile(ctx: Context, file: RandomAccessFile, start: number, length: number): void {
  ctx.respond = false;
  const res = ctx.res;
  pump(res, file, start, length).catch((err: unknown) => {
    res.destroy();
    ctx.app.emit('error', err, ctx);
  });
}
