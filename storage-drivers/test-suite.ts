/**
 * The one conformance suite every storage driver passes. A driver's own test file is one line:
 *
 *   runDriverSuite('filesystem', async () => ({ driver, cleanup }));
 *
 * The factory is called before every test and must give an empty store; `cleanup` removes it.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type FileWriter,
  InvalidOffsetError,
  InvalidPathError,
  PathNotFoundError,
  type StorageDriver,
} from './driver.js';

export interface DriverUnderTest {
  driver: StorageDriver;
  cleanup: () => Promise<void>;
}

const MiB = 1024 * 1024;

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Writes `pieces` through one writer session, ending the stream (not committing). */
async function writeSession(writer: FileWriter, pieces: Buffer[]): Promise<void> {
  async function* source() {
    yield* pieces;
  }
  await pipeline(source(), writer);
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function runDriverSuite(name: string, factory: () => Promise<DriverUnderTest>, timeout = 30_000): void {
  describe(`storage driver: ${name}`, { timeout }, () => {
    let driver: StorageDriver;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ driver, cleanup } = await factory());
    });

    afterEach(async () => {
      await cleanup();
    });

    describe('paths', () => {
      const invalid = ['', '/', 'abc', 'a/b', '/a/', '/a//b', '/a/../b', '/a/./b', '/..', '/.', '/a b', '/a\0b', '/ä', '/a/b\\c', '/a?b', '/~tmp/x'];

      it.each(invalid)('rejects %j everywhere', async (path) => {
        const attempts: Array<() => Promise<unknown>> = [
          () => driver.getContent(path),
          () => driver.putContent(path, Buffer.from('x')),
          () => driver.putContentIfAbsent(path, Buffer.from('x')),
          () => driver.reader(path),
          () => driver.writer(path, false),
          () => driver.stat(path),
          () => driver.move(path, '/ok'),
          () => driver.move('/ok', path),
          () => driver.delete(path),
        ];
        if (path !== '/') attempts.push(() => driver.list(path));
        for (const attempt of attempts) await expect(attempt()).rejects.toBeInstanceOf(InvalidPathError);
        expect(await driver.list('/')).toEqual([]);
      });

      it('accepts dots, dashes and underscores inside names', async () => {
        const paths = ['/.hidden', '/..x/a-b_c.d', '/x../y', '/_berth/z.json', '/A/B/C'];
        for (const path of paths) await driver.putContent(path, Buffer.from(path));
        for (const path of paths) expect((await driver.getContent(path)).toString()).toBe(path);
      });

      it('stamps the driver name on errors', async () => {
        const err = await driver.getContent('/missing').catch((e: unknown) => e);
        expect(err).toBeInstanceOf(PathNotFoundError);
        expect((err as PathNotFoundError).driver).toBe(driver.name);
      });
    });

    describe('content', () => {
      it('fails on a missing file', async () => {
        await expect(driver.getContent('/no/such/file')).rejects.toBeInstanceOf(PathNotFoundError);
      });

      it('round-trips every byte value, and an empty file', async () => {
        const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
        await driver.putContent('/bytes', all);
        await driver.putContent('/dir/empty', Buffer.alloc(0));
        expect(await driver.getContent('/bytes')).toEqual(all);
        expect((await driver.getContent('/dir/empty')).length).toBe(0);
      });

      it('reads whole files of every size around the first read (16 KiB on the filesystem)', async () => {
        for (const size of [1, 16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, 100 * 1024]) {
          const content = randomBytes(size);
          await driver.putContent(`/sized/${size}`, content);
          expect((await driver.getContent(`/sized/${size}`)).equals(content)).toBe(true);
        }
      });

      it('reads many small and large files at once, each whole', async () => {
        const files = Array.from({ length: 12 }, (_, i) => randomBytes(i % 2 ? 40 * 1024 + i : 50 + i));
        await Promise.all(files.map((content, i) => driver.putContent(`/many/${i}`, content)));
        const got = await Promise.all(files.map((_, i) => driver.getContent(`/many/${i}`)));
        got.forEach((content, i) => expect(content.equals(files[i]!)).toBe(true));
      });

      it('replaces on put', async () => {
        await driver.putContent('/a/file', Buffer.from('first, longer content'));
        await driver.putContent('/a/file', Buffer.from('second'));
        expect((await driver.getContent('/a/file')).toString()).toBe('second');
        expect((await driver.stat('/a/file')).size).toBe(6);
      });

      it('does not read a folder as a file', async () => {
        await driver.putContent('/dir/child', Buffer.from('x'));
        await expect(driver.getContent('/dir')).rejects.toBeInstanceOf(PathNotFoundError);
      });

      it('writes only once with putContentIfAbsent', async () => {
        expect(await driver.putContentIfAbsent('/claims/one', Buffer.from('first'))).toBe(true);
        expect(await driver.putContentIfAbsent('/claims/one', Buffer.from('second'))).toBe(false);
        expect((await driver.getContent('/claims/one')).toString()).toBe('first');
      });

      it('lets exactly one of many concurrent claims win', async () => {
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => driver.putContentIfAbsent('/claims/race', Buffer.from(`claimant-${i}`))),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        const winner = results.indexOf(true);
        expect((await driver.getContent('/claims/race')).toString()).toBe(`claimant-${winner}`);
      });

      it('never shows a mix of two concurrent puts', async () => {
        const a = Buffer.alloc(256 * 1024, 'a');
        const b = Buffer.alloc(128 * 1024, 'b');
        await Promise.all([driver.putContent('/race', a), driver.putContent('/race', b), driver.putContent('/race', a)]);
        const got = await driver.getContent('/race');
        expect(got.equals(a) || got.equals(b)).toBe(true);
      });
    });

    describe('reader', () => {
      const data = Buffer.from('0123456789abcdef');

      it('reads from an offset, and nothing at the end', async () => {
        await driver.putContent('/r', data);
        expect(await readAll(await driver.reader('/r'))).toEqual(data);
        expect((await readAll(await driver.reader('/r', 10))).toString()).toBe('abcdef');
        expect((await readAll(await driver.reader('/r', data.length))).length).toBe(0);
      });

      it('refuses offsets past the end or negative', async () => {
        await driver.putContent('/r', data);
        await expect(driver.reader('/r', data.length + 1)).rejects.toBeInstanceOf(InvalidOffsetError);
        await expect(driver.reader('/r', -1)).rejects.toBeInstanceOf(InvalidOffsetError);
        await expect(driver.reader('/r', 1.5)).rejects.toBeInstanceOf(InvalidOffsetError);
      });

      it('fails on a missing file', async () => {
        await expect(driver.reader('/missing')).rejects.toBeInstanceOf(PathNotFoundError);
      });

      it('streams large files, also from an offset', async () => {
        const big = randomBytes(12 * MiB + 123);
        const writer = await driver.writer('/big', false);
        await writeSession(writer, [big]);
        await writer.commit();
        const got = await readAll(await driver.reader('/big'));
        expect(sha256(got)).toBe(sha256(big));
        const tail = await readAll(await driver.reader('/big', 7 * MiB + 5));
        expect(sha256(tail)).toBe(sha256(big.subarray(7 * MiB + 5)));
      });

      it('serves many concurrent readers', async () => {
        const content = randomBytes(2 * MiB);
        await driver.putContent('/shared', content);
        const reads = await Promise.all(Array.from({ length: 8 }, (_, i) => driver.reader('/shared', i * 1000).then(readAll)));
        reads.forEach((got, i) => expect(got.equals(content.subarray(i * 1000))).toBe(true));
      });
    });

    describe('openFile (drivers with random access; others skip)', () => {
      const content = randomBytes(3 * MiB + 17);

      it('reads any stretch at any position, and nothing past the end', async (test) => {
        if (!driver.openFile) return test.skip();
        await driver.putContent('/random', content);
        const file = await driver.openFile('/random');
        try {
          expect(file.size).toBe(content.length);
          const buffer = Buffer.alloc(MiB);
          for (const position of [0, 1, MiB - 1, MiB, 2 * MiB + 5, content.length - 1]) {
            const bytes = await file.read(buffer, MiB, position);
            expect(bytes).toBeGreaterThan(0);
            expect(buffer.subarray(0, bytes).equals(content.subarray(position, position + bytes))).toBe(true);
          }
          expect(await file.read(buffer, 10, content.length)).toBe(0);
          expect(await file.read(buffer, 10, content.length + 100)).toBe(0);
          // Never more than the buffer holds, whatever length is asked.
          expect(await file.read(Buffer.alloc(4), 100, 0)).toBe(4);
          await expect(file.read(buffer, 10, -1)).rejects.toBeInstanceOf(InvalidOffsetError);
        } finally {
          await file.close();
        }
      });

      it('closes once however often asked, and reads nothing after', async (test) => {
        if (!driver.openFile) return test.skip();
        await driver.putContent('/random', content);
        const file = await driver.openFile('/random');
        await Promise.all([file.close(), file.close()]);
        await file.close();
        await expect(file.read(Buffer.alloc(10), 10, 0)).rejects.toThrow();
      });

      it('fails on a missing file and on a folder', async (test) => {
        if (!driver.openFile) return test.skip();
        await driver.putContent('/folder/file', content.subarray(0, 10));
        await expect(driver.openFile('/missing')).rejects.toBeInstanceOf(PathNotFoundError);
        await expect(driver.openFile('/folder')).rejects.toBeInstanceOf(PathNotFoundError);
        await expect(driver.openFile('/a/../b')).rejects.toBeInstanceOf(InvalidPathError);
      });
    });

    describe('writer', () => {
      it('writes, reports its size and commits', async () => {
        const writer = await driver.writer('/w/file', false);
        expect(writer.size).toBe(0);
        await writeSession(writer, [Buffer.from('hello, '), Buffer.from('world')]);
        expect(writer.size).toBe(12);
        await writer.commit();
        expect((await driver.getContent('/w/file')).toString()).toBe('hello, world');
        expect((await driver.stat('/w/file')).size).toBe(12);
      });

      it('commits an empty file', async () => {
        const writer = await driver.writer('/w/empty', false);
        await writeSession(writer, []);
        await writer.commit();
        expect((await driver.getContent('/w/empty')).length).toBe(0);
      });

      it('appends across sessions, across part-sized boundaries', async () => {
        const pieces = [randomBytes(6 * MiB + 7), randomBytes(3 * MiB + 1), randomBytes(7), randomBytes(5 * MiB)];
        let expected = 0;
        for (const [i, piece] of pieces.entries()) {
          const writer = await driver.writer('/w/appended', i > 0);
          expect(writer.size).toBe(expected);
          await writeSession(writer, [piece.subarray(0, 1000), piece.subarray(1000)]);
          expected += piece.length;
          expect(writer.size).toBe(expected);
          if (i < pieces.length - 1) await writer.close();
          else await writer.commit();
        }
        const got = await readAll(await driver.reader('/w/appended'));
        expect(sha256(got)).toBe(sha256(Buffer.concat(pieces)));
        expect((await driver.stat('/w/appended')).size).toBe(expected);
      });

      it('appends to a zero-byte session', async () => {
        const first = await driver.writer('/w/zero', false);
        await writeSession(first, []);
        await first.close();
        const second = await driver.writer('/w/zero', true);
        expect(second.size).toBe(0);
        await writeSession(second, [Buffer.from('later')]);
        await second.commit();
        expect((await driver.getContent('/w/zero')).toString()).toBe('later');
      });

      it('has nothing to append to on a missing path', async () => {
        await expect(driver.writer('/w/none', true)).rejects.toBeInstanceOf(PathNotFoundError);
      });

      it('starts over when not appending', async () => {
        const first = await driver.writer('/w/restart', false);
        await writeSession(first, [Buffer.from('old content')]);
        await first.close();
        const second = await driver.writer('/w/restart', false);
        expect(second.size).toBe(0);
        await writeSession(second, [Buffer.from('new')]);
        await second.commit();
        expect((await driver.getContent('/w/restart')).toString()).toBe('new');
      });

      it('leaves nothing behind on cancel', async () => {
        const first = await driver.writer('/w/cancelled/data', false);
        await writeSession(first, [randomBytes(6 * MiB)]);
        await first.close();
        const second = await driver.writer('/w/cancelled/data', true);
        await writeSession(second, [Buffer.from('more')]);
        await second.cancel();
        await expect(driver.reader('/w/cancelled/data')).rejects.toBeInstanceOf(PathNotFoundError);
        await expect(driver.writer('/w/cancelled/data', true)).rejects.toBeInstanceOf(PathNotFoundError);
        expect(await driver.list('/')).toEqual([]);
      });

      it('can be closed after its input failed', async () => {
        const writer = await driver.writer('/w/failed', false);
        async function* failing() {
          yield Buffer.from('partial');
          throw new Error('client went away');
        }
        await expect(pipeline(failing(), writer)).rejects.toThrow('client went away');
        await writer.cancel();
        await expect(driver.reader('/w/failed')).rejects.toBeInstanceOf(PathNotFoundError);
      });

      it('takes many concurrent writers on distinct paths', async () => {
        const contents = Array.from({ length: 10 }, () => randomBytes(64 * 1024));
        await Promise.all(
          contents.map(async (content, i) => {
            const writer = await driver.writer(`/w/many/${i}`, false);
            await writeSession(writer, [content]);
            await writer.commit();
          }),
        );
        for (const [i, content] of contents.entries()) expect((await driver.getContent(`/w/many/${i}`)).equals(content)).toBe(true);
      });
    });

    describe('stat and list', () => {
      it('tells files from folders', async () => {
        await driver.putContent('/s/a/file', Buffer.from('12345'));
        const file = await driver.stat('/s/a/file');
        expect(file).toMatchObject({ path: '/s/a/file', size: 5, isDirectory: false });
        expect(file.modified).toBeInstanceOf(Date);
        expect(Math.abs(file.modified.getTime() - Date.now())).toBeLessThan(60_000);
        expect(await driver.stat('/s/a')).toMatchObject({ path: '/s/a', isDirectory: true });
        await expect(driver.stat('/s/b')).rejects.toBeInstanceOf(PathNotFoundError);
      });

      it('lists direct children, sorted, as full paths', async () => {
        for (const path of ['/l/b', '/l/a/deep/file', '/l/c/x', '/l/a2', '/other']) await driver.putContent(path, Buffer.from('x'));
        expect(await driver.list('/l')).toEqual(['/l/a', '/l/a2', '/l/b', '/l/c']);
        expect(await driver.list('/l/a')).toEqual(['/l/a/deep']);
        expect(await driver.list('/')).toEqual(['/l', '/other']);
      });

      it('fails to list a missing folder; lists an empty root', async () => {
        expect(await driver.list('/')).toEqual([]);
        await expect(driver.list('/nothing')).rejects.toBeInstanceOf(PathNotFoundError);
      });
    });

    describe('move', () => {
      it('moves content, replacing the destination and creating its folders', async () => {
        await driver.putContent('/m/src', Buffer.from('payload'));
        await driver.putContent('/m/dst/x/y', Buffer.from('old'));
        await driver.move('/m/src', '/m/dst/x/y');
        expect((await driver.getContent('/m/dst/x/y')).toString()).toBe('payload');
        await expect(driver.stat('/m/src')).rejects.toBeInstanceOf(PathNotFoundError);
        await driver.move('/m/dst/x/y', '/n/new/place');
        expect((await driver.getContent('/n/new/place')).toString()).toBe('payload');
        expect(await driver.list('/')).toEqual(['/n']);
      });

      it('moves a committed writer file', async () => {
        const content = randomBytes(6 * MiB + 3);
        const writer = await driver.writer('/m/upload/data', false);
        await writeSession(writer, [content]);
        await writer.commit();
        await driver.move('/m/upload/data', '/m/blob/data');
        expect(sha256(await readAll(await driver.reader('/m/blob/data')))).toBe(sha256(content));
      });

      it('fails on a missing source', async () => {
        await expect(driver.move('/m/none', '/m/dst')).rejects.toBeInstanceOf(PathNotFoundError);
      });
    });

    describe('delete', () => {
      it('deletes a file and the folders it leaves empty', async () => {
        await driver.putContent('/d/a/b/file', Buffer.from('x'));
        await driver.putContent('/d/keep', Buffer.from('x'));
        await driver.delete('/d/a/b/file');
        await expect(driver.getContent('/d/a/b/file')).rejects.toBeInstanceOf(PathNotFoundError);
        expect(await driver.list('/d')).toEqual(['/d/keep']);
      });

      it('deletes folders recursively, not siblings sharing a prefix', async () => {
        for (const path of ['/d/dir/1', '/d/dir/sub/2', '/d/dir/sub/deeper/3', '/d/dirx', '/d/dir2/4']) {
          await driver.putContent(path, Buffer.from('x'));
        }
        await driver.delete('/d/dir');
        await expect(driver.stat('/d/dir')).rejects.toBeInstanceOf(PathNotFoundError);
        expect(await driver.list('/d')).toEqual(['/d/dir2', '/d/dirx']);
      });

      it('deletes many files', async () => {
        await Promise.all(Array.from({ length: 120 }, (_, i) => driver.putContent(`/many/${i % 7}/${i}`, Buffer.from(String(i)))));
        await driver.delete('/many');
        expect(await driver.list('/')).toEqual([]);
      });

      it('fails on a missing path', async () => {
        await expect(driver.delete('/d/none')).rejects.toBeInstanceOf(PathNotFoundError);
      });
    });
  });
}
