import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_CONFIG_FILE, loadConfig, parseListen, CONFIG_SCHEMA } from '../../src/config.js';
import { environmentKeys } from '../../src/config-schema.js';
import { tempDir } from '../helpers/tmp.js';

describe('config', () => {
  let dir: { path: string; remove: () => Promise<void> };

  beforeEach(async () => {
    dir = await tempDir('berth-config-');
  });
  afterEach(async () => dir.remove());

  async function file(text: string, name = 'berth.yaml'): Promise<string> {
    const path = join(dir.path, 'etc', name);
    await mkdir(join(dir.path, 'etc'), { recursive: true });
    await writeFile(path, text);
    return path;
  }

  it('has a default for every key', () => {
    const config = loadConfig({ env: {}, cwd: '/srv' });
    expect(config).toMatchObject({
      listen: '127.0.0.1:5000',
      storage: { driver: 'filesystem', filesystem: { root: '/srv/data' } },
      limits: { maxManifestSize: 4194304, maxBlobSize: 0 },
      uploads: { automaticMount: true },
      auth: { mode: 'none', service: 'berth', issuer: 'berth', realm: '', teams: {}, rules: [] },
      builds: { builder: 'auto', github: { api: 'https://api.github.com', token: '' }, repositories: [] },
      log: { level: 'info' },
      workers: 1,
    });
  });

  it('records whether auth.mode was chosen (file or environment) or defaulted', async () => {
    expect(loadConfig({ env: {} }).auth.modeGiven).toBe(false);
    expect(loadConfig({ file: await file('listen: 0.0.0.0:5000\n'), env: {} }).auth.modeGiven).toBe(false);
    expect(loadConfig({ file: await file('auth:\n  mode: none\n'), env: {} }).auth.modeGiven).toBe(true);
    expect(loadConfig({ env: { BERTH_AUTH_MODE: 'none' } }).auth.modeGiven).toBe(true);
  });

  it('takes workers as a number or auto, from the file, the environment and the flag', async () => {
    expect(loadConfig({ file: await file('workers: auto\n'), env: {} }).workers).toBe('auto');
    expect(loadConfig({ file: await file('workers: 3\n'), env: {} }).workers).toBe(3);
    expect(loadConfig({ file: await file('workers: 3\n'), env: { BERTH_WORKERS: 'auto' } }).workers).toBe('auto');
    expect(loadConfig({ env: { BERTH_WORKERS: '4' } }).workers).toBe(4);
    expect(loadConfig({ env: { BERTH_WORKERS: '4' }, workers: 2 }).workers).toBe(2);
    const many = await file('workers: many\n');
    expect(() => loadConfig({ file: many, env: {} })).toThrow(/workers: must be a whole number or auto \(got "many"\)/);
    const none = await file('workers: 0\n');
    expect(() => loadConfig({ file: none, env: {} })).toThrow(/workers: must be at least 1/);
    expect(() => loadConfig({ env: { BERTH_WORKERS: 'all' } })).toThrow(/BERTH_WORKERS: must be a whole number or auto/);
  });

  it('reads the embedded default: ./data at the project root on 127.0.0.1:5000', () => {
    const config = loadConfig({ file: DEFAULT_CONFIG_FILE, env: {} });
    expect(config.listen).toBe('127.0.0.1:5000');
    expect(config.storage.filesystem.root).toBe(join(import.meta.dirname, '../../data'));
  });

  it('resolves paths in a file against its folder, from the environment against the cwd', async () => {
    const path = await file('storage:\n  filesystem:\n    root: ../blobs\n');
    expect(loadConfig({ file: path, env: {} }).storage.filesystem.root).toBe(join(dir.path, 'blobs'));
    const fromEnv = loadConfig({ file: path, env: { BERTH_STORAGE_FILESYSTEM_ROOT: 'here' }, cwd: '/work' });
    expect(fromEnv.storage.filesystem.root).toBe('/work/here');
  });

  it('lets the environment win over the file, and flags over both', async () => {
    const path = await file('listen: 127.0.0.1:6000\nlog:\n  level: warn\nlimits:\n  maxBlobSize: 10\n');
    const env = { BERTH_LISTEN: '127.0.0.1:7000', BERTH_LIMITS_MAXBLOBSIZE: '2048', BERTH_UPLOADS_AUTOMATICMOUNT: 'false' };
    const config = loadConfig({ file: path, env });
    expect(config.listen).toBe('127.0.0.1:7000');
    expect(config.log.level).toBe('warn');
    expect(config.limits.maxBlobSize).toBe(2048);
    expect(config.uploads.automaticMount).toBe(false);
    expect(loadConfig({ file: path, env, listen: '127.0.0.1:0' }).listen).toBe('127.0.0.1:0');
  });

  it('names every scalar key as a BERTH_ variable', () => {
    expect([...environmentKeys(CONFIG_SCHEMA).keys()]).toEqual(
      expect.arrayContaining(['BERTH_LISTEN', 'BERTH_STORAGE_DRIVER', 'BERTH_STORAGE_FILESYSTEM_ROOT', 'BERTH_LIMITS_MAXMANIFESTSIZE', 'BERTH_LOG_LEVEL']),
    );
  });

  it.each([
    ['an unknown key', 'listn: 1.2.3.4:5\n', /listn: unknown key/],
    ['an unknown nested key', 'storage:\n  drivr: memory\n', /storage\.drivr: unknown key/],
    ['a bad enum', 'storage:\n  driver: ftp\n', /storage\.driver: must be one of filesystem, s3, memory \(got "ftp"\)/],
    ['a bad listen', 'listen: everywhere\n', /listen: must be HOST:PORT/],
    ['a string for a number', 'limits:\n  maxBlobSize: lots\n', /limits\.maxBlobSize: must be a whole number/],
    ['a too small manifest limit', 'limits:\n  maxManifestSize: 10\n', /limits\.maxManifestSize: must be at least/],
    ['a list for a map', 'storage: [1]\n', /storage: must be a map/],
    ['broken YAML', 'listen: [\n', /not valid YAML/],
  ])('refuses %s with a message naming the key', async (_why, text, message) => {
    const path = await file(text);
    expect(() => loadConfig({ file: path, env: {} })).toThrow(ConfigError);
    expect(() => loadConfig({ file: path, env: {} })).toThrow(message);
  });

  it('refuses unknown and malformed BERTH_ variables, naming them', () => {
    expect(() => loadConfig({ env: { BERTH_LISTEM: 'x' } })).toThrow(/BERTH_LISTEM: unknown setting/);
    expect(() => loadConfig({ env: { BERTH_LIMITS_MAXBLOBSIZE: '12k' } })).toThrow(/BERTH_LIMITS_MAXBLOBSIZE: must be a whole number/);
    expect(() => loadConfig({ env: { BERTH_UPLOADS_AUTOMATICMOUNT: 'maybe' } })).toThrow(/BERTH_UPLOADS_AUTOMATICMOUNT: must be true or false/);
  });

  it('checks the S3 settings together', async () => {
    expect(() => loadConfig({ env: { BERTH_STORAGE_DRIVER: 's3' } })).toThrow(/storage\.s3\.bucket: needed when storage\.driver is s3/);
    expect(() => loadConfig({ env: { BERTH_STORAGE_S3_ACCESSKEYID: 'AKIA' } })).toThrow(/give both or neither/);
    const s3 = loadConfig({
      file: await file('storage:\n  driver: s3\n  s3:\n    bucket: my-bucket\n    endpoint: http://127.0.0.1:9000\n'),
      env: { BERTH_STORAGE_S3_FORCEPATHSTYLE: 'true', BERTH_STORAGE_S3_PARTSIZE: '8388608' },
    });
    expect(s3.storage.s3).toMatchObject({ bucket: 'my-bucket', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true, partSize: 8388608, redirect: false });
    expect(() => loadConfig({ env: { BERTH_STORAGE_S3_PARTSIZE: '1024' } })).toThrow(/storage\.s3\.partSize: must be at least 5242880/);
    const secret = await file('storage:\n  s3:\n    secretAccessKey: 42\n');
    expect(() => loadConfig({ file: secret, env: {} })).toThrow(/secretAccessKey: must be a string/);
  });

  it('reports a missing file', () => {
    expect(() => loadConfig({ file: join(dir.path, 'nope.yaml'), env: {} })).toThrow(/cannot read config file/);
  });

  it('splits listen addresses', () => {
    expect(parseListen('127.0.0.1:5000')).toEqual({ host: '127.0.0.1', port: 5000 });
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(() => parseListen('127.0.0.1:70000')).toThrow(ConfigError);
  });
});
