/**
 * A Node.js base image made from this machine's own Node, without network: the stand-in for
 * `node:<major>-bookworm-slim` (which cannot be pulled here) when a test builds the project's
 * Dockerfile with `buildah bud --build-arg NODE_IMAGE=<tag>`.
 *
 * What goes in (one layer, laid out like the official image):
 * - /usr/local/bin/node (this process's Node) and the shared libraries `ldd` lists for it, at the
 *   paths `ldd` prints (the dynamic loader included);
 * - npm as /usr/local/lib/node_modules/npm with /usr/local/bin/npm and npx, and the host's global
 *   npmrc as /usr/local/etc/npmrc (here it names the CA file that reaching the npm registry needs);
 * - /etc/ssl/certs/ca-certificates.crt (the host's bundle, so TLS through this network's proxy works);
 * - busybox with every applet linked (/bin/sh for RUN and npm scripts, mkdir, chown, env, ...);
 * - users root (0) and node (1000, home /home/node), group node (1000), /tmp and /var/tmp (1777).
 *
 * It is made with `buildah from scratch`, files written into `buildah mount`, `buildah config`
 * and `buildah commit`, all with the caller's global flags (storage driver, root, runroot), so a
 * later `buildah bud` or `podman run` with the same flags finds it as `FROM <tag>`.
 */
import { execFile } from 'node:child_process';
import { chmod, chown, copyFile, cp, lstat, mkdir, readFile, realpath, stat, symlink, writeFile } from 'node:fs/promises';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface NodeBaseImageOptions {
  /** Image name to commit, e.g. `localhost/berth-test/node:local`. Use the `localhost/` form in `FROM`. */
  tag: string;
  /** Global buildah flags put before every subcommand, e.g. `['--storage-driver', 'vfs', '--root', R, '--runroot', RR]`. */
  buildahArgs?: string[];
  /** The buildah command; default `buildah`. */
  buildah?: string;
  /** The Node binary to copy; default this process's (`process.execPath`). */
  node?: string;
  /** npm's package folder; default `<node prefix>/lib/node_modules/npm`, else found from `npm` on PATH. */
  npmDir?: string;
  /** A busybox binary (static or not); default `busybox` from PATH. */
  busybox?: string;
  /** The CA bundle to put at /etc/ssl/certs/ca-certificates.crt; default that path on the host. */
  caBundle?: string;
  /** Timeout of each buildah command, in ms; default 120 s. */
  timeoutMs?: number;
}

export interface NodeBaseImage {
  /** The tag as given. */
  tag: string;
  /** The image id buildah printed. */
  imageId: string;
  /** `process.version` style, e.g. `v20.20.2`. */
  nodeVersion: string;
  npmVersion: string;
}

/** Libraries every glibc image has beside libc.so.6 (Debian's libc6 and libgcc-s1). */
const GLIBC_RUNTIME = ['libc.so.6', 'libm.so.6', 'libdl.so.2', 'librt.so.1', 'libpthread.so.0', 'libgcc_s.so.1', 'libresolv.so.2', 'libutil.so.1'];

const PATH_ENV = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

async function runCommand(command: string, args: string[], timeout: number): Promise<string> {
  try {
    const { stdout } = await exec(command, args, { timeout, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string; stdout?: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${e.message}\n${e.stderr ?? ''}${e.stdout ?? ''}`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** The first `name` on PATH that is a file. */
async function which(name: string): Promise<string> {
  if (isAbsolute(name)) return name;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(`${name} not found on PATH`);
}

/**
 * The shared libraries of a binary, as the absolute paths `ldd` prints (`name => /path (addr)`
 * and the loader's own `/lib64/ld-linux-x86-64.so.2 (addr)`). A static binary has none.
 */
export async function sharedLibraries(binary: string): Promise<string[]> {
  let output: string;
  try {
    output = (await exec('ldd', [binary])).stdout;
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    // ldd exits 1 for a static binary ("not a dynamic executable").
    if (/not a dynamic executable|statically linked/.test(`${e.stdout ?? ''}${e.stderr ?? ''}`)) return [];
    throw new Error(`ldd ${binary} failed: ${e.message}\n${e.stderr ?? ''}`);
  }
  const paths: string[] = [];
  for (const line of output.split('\n')) {
    if (/not found/.test(line)) throw new Error(`ldd ${binary}: ${line.trim()}`);
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (match?.[1] && !paths.includes(match[1])) paths.push(match[1]);
  }
  return paths;
}

/** Copies a file's content (symlinks followed) to `rootfs` + `path`, keeping its mode. */
async function copyInto(rootfs: string, source: string, path: string): Promise<void> {
  const dest = join(rootfs, path);
  await mkdir(dirname(dest), { recursive: true });
  await copyFile(source, dest);
  await chmod(dest, (await stat(source)).mode & 0o7777);
}

/** Copies a binary to `path` in the rootfs, with every shared library it needs at the path ldd prints. */
async function copyBinaryWithLibraries(rootfs: string, binary: string, path: string): Promise<void> {
  await copyInto(rootfs, binary, path);
  for (const library of await sharedLibraries(binary)) {
    if (!(await exists(join(rootfs, library)))) await copyInto(rootfs, library, library);
  }
}

async function findNpm(nodeBinary: string): Promise<string> {
  const beside = join(dirname(dirname(nodeBinary)), 'lib/node_modules/npm');
  if (await exists(join(beside, 'bin/npm-cli.js'))) return beside;
  // npm on PATH is usually a link to <npm>/bin/npm-cli.js.
  const cli = await realpath(await which('npm'));
  const dir = dirname(dirname(cli));
  if (await exists(join(dir, 'bin/npm-cli.js'))) return dir;
  throw new Error(`npm's folder not found (tried ${beside} and ${dir}); pass npmDir`);
}

/** The host's global npmrc (npm's `globalconfig`): `<prefix>/etc/npmrc`, else /etc/npmrc. */
async function hostNpmrc(nodeBinary: string): Promise<string | undefined> {
  for (const candidate of [join(dirname(dirname(nodeBinary)), 'etc/npmrc'), '/etc/npmrc']) {
    if (await exists(candidate)) return readFile(candidate, 'utf8');
  }
  return undefined;
}

function imageArch(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return map[process.arch] ?? process.arch;
}

/** Lays out the rootfs of the base image under `rootfs` (an empty folder, e.g. a `buildah mount` point). */
export async function stageNodeRootfs(rootfs: string, options: Omit<NodeBaseImageOptions, 'tag' | 'buildahArgs' | 'buildah' | 'timeoutMs'> = {}): Promise<{ nodeVersion: string; npmVersion: string }> {
  const node = await realpath(options.node ?? process.execPath);
  const npmDir = options.npmDir ?? (await findNpm(node));
  const busybox = await realpath(await which(options.busybox ?? 'busybox'));
  const caBundle = options.caBundle ?? '/etc/ssl/certs/ca-certificates.crt';

  for (const dir of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'usr/local/bin', 'usr/local/lib', 'usr/local/etc', 'etc/ssl/certs', 'var/lib', 'var/cache', 'run', 'root', 'home/node']) {
    await mkdir(join(rootfs, dir), { recursive: true });
  }
  for (const dir of ['tmp', 'var/tmp']) {
    await mkdir(join(rootfs, dir), { recursive: true });
    await chmod(join(rootfs, dir), 0o1777);
  }
  await chmod(join(rootfs, 'root'), 0o700);
  await chown(join(rootfs, 'home/node'), 1000, 1000);

  // Node and its libraries, and the rest of glibc's runtime beside its libc (as the official
  // image's libc6 and libgcc-s1 packages have them): native npm modules need them (Vite's
  // bundler, rolldown, links librt and libdl).
  await copyBinaryWithLibraries(rootfs, node, '/usr/local/bin/node');
  const libc = (await sharedLibraries(node)).find((library) => /\/libc\.so\.6$/.test(library));
  if (libc) {
    for (const name of GLIBC_RUNTIME) {
      const library = join(dirname(libc), name);
      if ((await exists(library)) && !(await exists(join(rootfs, library)))) await copyInto(rootfs, await realpath(library), library);
    }
  }

  // busybox: a shell and the usual tools, as links to one binary (skipping any path already taken).
  await copyBinaryWithLibraries(rootfs, busybox, '/bin/busybox');
  const applets = (await runCommand(busybox, ['--list-full'], 10_000)).split('\n').map((line) => line.trim()).filter((line) => line.includes('/'));
  for (const applet of applets) {
    const dest = join(rootfs, applet);
    if (await exists(dest)) continue;
    await mkdir(dirname(dest), { recursive: true });
    await symlink('/bin/busybox', dest);
  }

  // npm, laid out as in the official image.
  await cp(npmDir, join(rootfs, 'usr/local/lib/node_modules/npm'), { recursive: true, verbatimSymlinks: true });
  await symlink('../lib/node_modules/npm/bin/npm-cli.js', join(rootfs, 'usr/local/bin/npm'));
  await symlink('../lib/node_modules/npm/bin/npx-cli.js', join(rootfs, 'usr/local/bin/npx'));
  const npmrc = await hostNpmrc(node);
  if (npmrc !== undefined) await writeFile(join(rootfs, 'usr/local/etc/npmrc'), npmrc);

  // CA certificates.
  if (await exists(caBundle)) await copyInto(rootfs, await realpath(caBundle), '/etc/ssl/certs/ca-certificates.crt');

  // Users, groups, name lookup.
  await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  await writeFile(join(rootfs, 'etc/group'), 'root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n');
  await writeFile(join(rootfs, 'etc/shadow'), 'root:*:19000:0:99999:7:::\nnode:!:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n', { mode: 0o640 });
  await writeFile(join(rootfs, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n');
  await writeFile(join(rootfs, 'etc/hosts'), '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n');

  const nodeVersion = (await runCommand(node, ['--version'], 10_000)).trim();
  const npmPackage = JSON.parse(await readFile(join(npmDir, 'package.json'), 'utf8')) as { version: string };
  return { nodeVersion, npmVersion: npmPackage.version };
}

/**
 * Builds the base image and commits it as `tag` in the storage that `buildahArgs` select.
 * Takes 5-8 s with vfs storage; one layer of 121 MB (45 MB gzipped): node ~100 MB, npm ~20 MB.
 * Needs root (`buildah mount` of a vfs container); a killed run may leave a working container
 * behind, which `buildah rm --all` with the same flags removes.
 */
export async function buildNodeBaseImage(options: NodeBaseImageOptions): Promise<NodeBaseImage> {
  const buildah = options.buildah ?? 'buildah';
  const global = options.buildahArgs ?? [];
  const timeout = options.timeoutMs ?? 120_000;
  const b = (...args: string[]): Promise<string> => runCommand(buildah, [...global, ...args], timeout);

  const container = (await b('from', 'scratch')).trim().split('\n').pop() ?? '';
  if (!container) throw new Error('buildah from scratch printed no container name');
  try {
    const rootfs = (await b('mount', container)).trim();
    const { nodeVersion, npmVersion } = await stageNodeRootfs(rootfs, options);
    await b('umount', container);
    await b(
      'config',
      '--os', 'linux',
      '--arch', imageArch(),
      '--env', `PATH=${PATH_ENV}`,
      '--env', `NODE_VERSION=${nodeVersion.replace(/^v/, '')}`,
      // npm would otherwise ask the registry for a newer npm on every run and print a notice.
      '--env', 'NPM_CONFIG_UPDATE_NOTIFIER=false',
      '--cmd', 'node',
      '--label', `org.opencontainers.image.description=Node ${nodeVersion} and npm ${npmVersion} from the test machine`,
      container,
    );
    const imageId = (await b('commit', '--rm', '--quiet', container, options.tag)).trim().split('\n').pop() ?? '';
    return { tag: options.tag, imageId, nodeVersion, npmVersion };
  } catch (err) {
    await b('rm', container).catch(() => undefined);
    throw err;
  }
}
