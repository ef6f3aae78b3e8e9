/**
 * A blob fill's readers (src/proxy/blob-fill.ts): from memory while they keep up, from storage
 * at the byte they reached once they fall behind, never the last byte before the verdict, and an
 * error (not a clean end) when the fill fails.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BlobFill, BlobFills, type FillOptions } from '../../src/proxy/blob-fill.js';

const MiB = 1024 * 1024;

/** A source that yields `data` in 64 KiB pieces. */
function source(data: Buffer): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += 64 * 1024) yield data.subarray(i, i + 64 * 1024);
    })(),
    { objectMode: false },
  );
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Options that store into memory, checking the bytes against `expected` (as putWhole checks the digest). */
function memoryStore(expected: Buffer, offsets: number[] = []): FillOptions & { stored?: Buffer } {
  const options: FillOptions & { stored?: Buffer } = {
    async store(input) {
      const bytes = await readAll(input);
      if (!createHash('sha256').update(bytes).digest().equals(createHash('sha256').update(expected).digest())) throw new Error('digest mismatch');
      options.stored = bytes;
    },
    async readStored(offset) {
      offsets.push(offset);
      return Readable.from([options.stored!.subarray(offset)]);
    },
    bodyFailed: (err) => err as Error,
    storeFailed: (err) => err as Error,
  };
  return options;
}

describe('blob fill readers', () => {
  it('gives a reader that keeps up the blob from memory, and one that starts late the blob from storage', async () => {
    const data = randomBytes(20 * MiB);
    const offsets: number[] = [];
    const fill = new BlobFill({ size: data.length, body: source(data) }, memoryStore(data, offsets));
    expect(fill.readableFromStart).toBe(true);
    const keepsUp = readAll(fill.reader());
    await fill.done;
    expect((await keepsUp).equals(data)).toBe(true);
    expect(offsets).toEqual([]);
    // Past the 8 MiB window: byte 0 is in storage only now.
    expect(fill.readableFromStart).toBe(false);
    expect((await readAll(fill.reader())).equals(data)).toBe(true);
    expect(offsets).toEqual([0]);
  });

  it('continues a reader that fell behind from storage at the byte it reached', async () => {
    const data = randomBytes(12 * MiB);
    const offsets: number[] = [];
    const fill = new BlobFill({ size: data.length, body: source(data) }, memoryStore(data, offsets));
    const reader = fill.reader();
    const iterator = reader[Symbol.asyncIterator]();
    const head = (await iterator.next()).value as Buffer;
    await fill.done;
    const rest: Buffer[] = [];
    for (let step = await iterator.next(); !step.done; step = await iterator.next()) rest.push(step.value as Buffer);
    expect(Buffer.concat([head, ...rest]).equals(data)).toBe(true);
    expect(offsets.length).toBe(1);
    expect(offsets[0]).toBeGreaterThan(0);
  });

  it('holds back the last byte until the bytes are verified, and fails readers when they are wrong', async () => {
    const data = randomBytes(3 * MiB);
    const wrong = Buffer.from(data);
    wrong[wrong.length - 1] = wrong[wrong.length - 1]! ^ 1;
    const fill = new BlobFill({ size: wrong.length, body: source(wrong) }, memoryStore(data));
    const received: Buffer[] = [];
    const outcome = await new Promise<Error | undefined>((resolve) => {
      fill
        .reader()
        .on('data', (chunk: Buffer) => received.push(chunk))
        .on('error', resolve)
        .on('end', () => resolve(undefined));
    });
    expect(outcome?.message).toBe('digest mismatch');
    expect(Buffer.concat(received).length).toBeLessThan(wrong.length);
    await expect(fill.done).rejects.toThrow('digest mismatch');
  });

  it('tells the upstream body failing apart from the store failing', async () => {
    const broken = new Readable({
      read() {
        this.push(Buffer.alloc(1000));
        this.destroy(Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }));
      },
    });
    const options = memoryStore(Buffer.alloc(2000));
    options.bodyFailed = () => new Error('upstream ended the blob early');
    const fill = new BlobFill({ size: 2000, body: broken }, options);
    await expect(fill.done).rejects.toThrow('upstream ended the blob early');
  });

  it('shares one fill per digest while it runs, and forgets it when done', async () => {
    const fills = new BlobFills();
    const data = randomBytes(1000);
    let opened = 0;
    const open = async () => {
      opened += 1;
      return { size: data.length, body: source(data) };
    };
    const starting = fills.start('sha256:x', 'a/b', open, memoryStore(data));
    expect(fills.get('sha256:x')).toBe(starting);
    const { fill } = await starting;
    await fill.done;
    await new Promise((r) => setImmediate(r));
    expect(fills.get('sha256:x')).toBeUndefined();
    expect(opened).toBe(1);
    // A failed open is forgotten too, and is the error of whoever waited.
    const failing = fills.start('sha256:y', 'a/b', async () => Promise.reject(new Error('upstream 429')), memoryStore(data));
    await expect(failing).rejects.toThrow('upstream 429');
    await new Promise((r) => setImmediate(r));
    expect(fills.get('sha256:y')).toBeUndefined();
  });
});
