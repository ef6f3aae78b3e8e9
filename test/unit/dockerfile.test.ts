/**
 * The Dockerfile cannot be built here (no container engine): check what can be checked. Every
 * COPY source exists, and the image's command line, run with the image's environment, serves.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '../..');
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const lines = dockerfile.split('\n').filter((line) => !line.startsWith('#'));

describe('Dockerfile', () => {
  it('copies only files that exist', () => {
    const copies = lines.filter((line) => /^COPY (?!--from)/.test(line));
    expect(copies.length).toBeGreaterThan(3);
    for (const line of copies) {
      const sources = line.split(/\s+/).slice(1, -1);
      for (const source of sources) expect(existsSync(join(ROOT, source)), source).toBe(true);
    }
  });

  it('runs as a non-root user with data on a volume', () => {
    expect(lines.some((line) => /^USER (?!root)\w+/.test(line))).toBe(true);
    expect(dockerfile).toMatch(/VOLUME \/var\/lib\/berth/);
    expect(dockerfile).toMatch(/BERTH_STORAGE_FILESYSTEM_ROOT=\/var\/lib\/berth/);
    expect((dockerfile.match(/^FROM /gm) ?? []).length).toBe(2);
  });

  it('serves with its ENTRYPOINT, CMD and environment', { timeout: 20_000 }, async () => {
    const entrypoint = JSON.parse(/^ENTRYPOINT (.*)$/m.exec(dockerfile)![1]!) as string[];
    const cmd = JSON.parse(/^CMD (.*)$/m.exec(dockerfile)![1]!) as string[];
    const data = await tempDir('berth-docker-');
    const [, ...args] = [...entrypoint, ...cmd];
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { PATH: process.env.PATH, NODE_ENV: 'production', BERTH_LISTEN: '127.0.0.1:0', BERTH_STORAGE_FILESYSTEM_ROOT: data.path },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      for await (const line of createInterface({ input: child.stdout! })) {
        const entry = JSON.parse(line) as { msg: string; url?: string };
        if (entry.msg === 'listening') {
          expect((await fetch(`${entry.url}/v2/`)).status).toBe(200);
          break;
        }
      }
    } finally {
      child.kill('SIGTERM');
      await data.remove();
    }
  });
});
