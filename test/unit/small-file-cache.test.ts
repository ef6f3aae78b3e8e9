/**
 * The filesystem driver's small-file cache: a file read before is served after one stat shows it
 * unchanged, and never when another process (another driver on the same folder, as a worker or
 * replica would be) has changed it: by rename (putContent), by appending, or in place at the same
 * size.
 */
import type { Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFilesystemDriver } from '../../storage-drivers/filesystem.js';
import { SmallFileCache } from '../../storage-drivers/small-file-cache.js';
import { tempDir } from '../helpers/tmp.js';

function stats(fields: Partial<Stats>): Stats {
  return { ino: 1, size: 3, mtimeMs: 1000, ctimeMs: 1000, ...fields } as Stats;
}

describe('SmallFileCache', () => {
  it('serves a copy while inode, size, mtime and ctime all match', () => {
    const cache = new SmallFileCache(10, () => 10_000);
    cache.set('/a', stats({}), Buffer.from('abc'));
    const hit = cache.get('/a', stats({}))!;
    expect(hit.toString()).toBe('abc');
    hit.write('zzz');
    expect(cache.get('/a', stats({}))!.toString()).toBe('abc');
    for (const changed of [{ ino: 2 }, { size: 4 }, { mtimeMs: 1001 }, { ctimeMs: 1000.5 }]) {
      cache.set('/a', stats({}), Buffer.from('abc'));
      expect(cache.get('/a', stats(changed))).toBeUndefined();
      expect(cache.get('/a', stats({}))).toBeUndefined(); // dropped on the mismatch
    }
  });

  it('keeps nothing changed less than a second before it was read', () => {
    const cache = new SmallFileCache(10, () => 10_000);
    cache.set('/fresh', stats({ ctimeMs: 9_500 }), Buffer.from('abc'));
    expect(cache.get('/fresh', stats({ ctimeMs: 9_500 }))).toBeUndefined();
    cache.set('/settled', stats({ ctimeMs: 8_999 }), Buffer.from('abc'));
    expect(cache.get('/settled', stats({ ctimeMs: 8_999 }))?.toString()).toBe('abc');
  });

  it('holds at most its number of entries, dropping the oldest', () => {
    const cache = new SmallFileCache(2, () => 10_000);
    for (const path of ['/1', '/2', '/3']) cache.set(path, stats({}), Buffer.from(path));
    expect(cache.get('/1', stats({}))).toBeUndefined();
    expect(cache.get('/3', stats({}))?.toString()).toBe('/3');
  });
});

describe('filesystem getContent across processes', () => {
  let dir: { path: string; remove: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir('berth-small-');
  });
  afterEach(async () => dir.remove());

  it('sees every change another driver makes, however soon after it read', { timeout: 20_000 }, async () => {
    const writer = createFilesystemDriver(dir.path);
    const reader = createFilesystemDriver(dir.path);
    await writer.putContent('/tag/link', Buffer.from('sha256:one'));
    await writer.putContent('/log', Buffer.from('first line\n'));
    await writer.putContent('/same-size', Buffer.from('AAAA'));
    await sleep(1100); // settled: the reader keeps what it reads now
    expect((await reader.getContent('/tag/link')).toString()).toBe('sha256:one');
    expect((await reader.getContent('/log')).toString()).toBe('first line\n');
    expect((await reader.getContent('/same-size')).toString()).toBe('AAAA');

    // A tag moved by rename, again and again: never the old target.
    for (let i = 0; i < 200; i++) {
      await writer.putContent('/tag/link', Buffer.from(`sha256:${i % 2 ? 'one' : 'two'}`));
      expect((await reader.getContent('/tag/link')).toString()).toBe(`sha256:${i % 2 ? 'one' : 'two'}`);
    }
    // Appended to in place (a writer session), and rewritten in place at the same size.
    const append = await writer.writer('/log', true);
    append.end('second line\n');
    await new Promise((resolve) => append.once('finish', resolve));
    await append.close();
    expect((await reader.getContent('/log')).toString()).toBe('first line\nsecond line\n');
    const handle = await open(join(dir.path, 'same-size'), 'r+');
    await handle.write(Buffer.from('BBBB'), 0, 4, 0);
    await handle.close();
    expect((await reader.getContent('/same-size')).toString()).toBe('BBBB');
    // Gone is gone.
    await writer.delete('/tag');
    await expect(reader.getContent('/tag/link')).rejects.toThrow(/path not found/);
  });
});
