import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFilesystemDriver } from '../../storage-drivers/filesystem.js';
import { runDriverSuite } from '../../storage-drivers/test-suite.js';
import { tempDir } from '../helpers/tmp.js';

runDriverSuite('filesystem', async () => tempDir().then(({ path, remove }) => ({ driver: createFilesystemDriver(path), cleanup: remove })));

describe('filesystem driver: private files', () => {
  it('creates every file 0600 and every folder 0700, whatever the umask', async () => {
    const { path, remove } = await tempDir();
    const umask = process.umask(0);
    try {
      const driver = createFilesystemDriver(join(path, 'root'));
      await driver.putContent('/_berth/auth/signing-key.jwk', Buffer.from('{}'));
      await driver.putContentIfAbsent('/_berth/auth/tokens/abc.json', Buffer.from('{}'));
      const writer = await driver.writer('/repositories/a/_uploads/u/data', false);
      writer.end(Buffer.from('bytes'));
      await new Promise((resolve) => writer.once('finish', resolve));
      await writer.commit();
      await driver.move('/repositories/a/_uploads/u/data', '/blobs/sha256/ab/abcd/data');
      const modes: Record<string, string> = {};
      const walk = async (dir: string): Promise<void> => {
        for (const entry of await readdir(dir, { withFileTypes: true })) {
          const full = join(dir, entry.name);
          modes[full.slice(path.length)] = ((await stat(full)).mode & 0o777).toString(8);
          if (entry.isDirectory()) await walk(full);
        }
      };
      modes['/root'] = ((await stat(join(path, 'root'))).mode & 0o777).toString(8);
      await walk(join(path, 'root'));
      for (const [file, mode] of Object.entries(modes)) {
        const isDir = (await stat(join(path, file))).isDirectory();
        expect(mode, file).toBe(isDir ? '700' : '600');
      }
      expect(Object.keys(modes)).toContain('/root/_berth/auth/signing-key.jwk');
      expect(Object.keys(modes)).toContain('/root/blobs/sha256/ab/abcd/data');
    } finally {
      process.umask(umask);
      await remove();
    }
  });
});
