/**
 * The buildah builder: full Dockerfile semantics (RUN included) with
 * `buildah bud --isolation chroot` in a private vfs storage, then `buildah push` into Berth over
 * loopback. Everything it keeps (storage, registries.conf, credentials) lives in one folder per
 * build, removed afterwards, so builds never see each other or the host's container state.
 *
 * Base images named with Berth's public host (`builds.registryHost`) are pulled from Berth
 * itself (a registries.conf prefix rewrite). With auth on, the build gets short-lived tokens
 * for the target and for the Berth images it may pull (`request.mayPull`), and nothing else; a
 * Dockerfile that names a Berth image it may not pull fails before buildah starts. buildah runs
 * with the environment it needs, not Berth's.
 *
 * Pushes never leave a half image under a tag: a manifest is written only after its blobs, and
 * a build that fails before pushing has pushed nothing but unreferenced blobs (gc frees them).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BUILD_USER, type Builder, type BuildRequest, type BuildResult, ImageDeniedError } from '../builder.js';
import { isValidName } from '../../registry/names.js';
import { runCommand } from './command.js';
import { berthRepository, imageReferences, parseDockerfile, platformArgs } from '../dockerfile/index.js';

export interface BuildahOptions {
  /** The buildah command. */
  command: string;
  /** Parent folder of the per-build folders. */
  workDir: string;
  /** `host:port` where Berth listens (plain HTTP). */
  registry: string;
  /** Other names Dockerfiles use for Berth (builds.registryHost). */
  aliases: string[];
  /**
   * Tokens (repository -> token) for the target and the given Berth base repositories (the ones
   * the build may pull), or undefined when auth is off.
   */
  credentials?: (target: string, bases: string[]) => Promise<Map<string, string> | undefined>;
}


/**
 * A command line as the build log shows it: build-argument values masked (`--build-arg K=***`).
 * A rule's build args may hold tokens, and the log is readable by whoever may pull the image.
 */
export function shownArgs(args: readonly string[]): string[] {
  const mask = (assignment: string): string => `${assignment.split('=', 1)[0]}=***`;
  return args.map((arg, i) => {
    if (args[i - 1] === '--build-arg') return mask(arg);
    if (arg.startsWith('--build-arg=')) return `--build-arg=${mask(arg.slice('--build-arg='.length))}`;
    return arg;
  });
}

/** Variables of Berth's environment buildah gets: what it needs to run, nothing of Berth's own. */
const PASSED_VARIABLES = new Set(['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LANGUAGE', 'TZ', 'XDG_RUNTIME_DIR', 'XDG_CONFIG_HOME', 'XDG_DATA_HOME', 'SSL_CERT_FILE', 'SSL_CERT_DIR']);
const PASSED_PROXIES = new Set(['http_proxy', 'https_proxy', 'no_proxy', 'all_proxy']);

/** The part of `env` buildah may see: see PASSED_VARIABLES, plus LC_*, BUILDAH_* and proxy settings. */
export function buildahEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const passed: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (PASSED_VARIABLES.has(name) || PASSED_PROXIES.has(name.toLowerCase()) || name.startsWith('LC_') || name.startsWith('BUILDAH_')) passed[name] = value;
  }
  return passed;
}

/** TOML basic strings: quotes and backslashes escaped. */
function toml(value: string): string {
  return JSON.stringify(value);
}

export class BuildahBuilder implements Builder {
  readonly name = 'buildah' as const;

  constructor(private readonly options: BuildahOptions) {}

  async build(request: BuildRequest): Promise<BuildResult> {
    const { options } = this;
    await mkdir(options.workDir, { recursive: true, mode: 0o700 });
    const dir = await mkdtemp(join(options.workDir, 'buildah-'));
    try {
      const env = await this.prepare(dir, request);
      const storage = ['--storage-driver', 'vfs', '--root', join(dir, 'root'), '--runroot', join(dir, 'run')];
      const policy = ['--signature-policy', join(dir, 'policy.json')];
      const local = `localhost/berth-build-${randomBytes(6).toString('hex')}`;
      const run = (args: string[]): Promise<void> => {
        request.log(`$ ${options.command} ${shownArgs(args).join(' ')}`.slice(0, 4000));
        const name = `buildah ${args.find((a) => a === 'bud' || a === 'push') ?? ''}`.trim();
        return runCommand(options.command, args, { env, log: request.log, signal: request.signal, cwd: dir, name });
      };
      const args = Object.entries(request.buildArgs).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
      await run([...storage, 'bud', '--isolation', 'chroot', '--layers=false', ...policy, '-f', join(request.contextDir, request.dockerfile), ...args, '-t', local, request.contextDir]);
      let digest = '';
      for (const tag of request.tags) {
        const digestFile = join(dir, `digest-${tag}`);
        await run([...storage, 'push', ...policy, '--tls-verify=false', '--digestfile', digestFile, local, `docker://${options.registry}/${request.repository}:${tag}`]);
        const pushed = (await readFile(digestFile, 'utf8')).trim();
        if (digest && pushed !== digest) request.log(`warning: ${tag} got ${pushed}, the first tag ${digest}`);
        digest ||= pushed;
      }
      return { digest };
    } finally {
      await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch((err: Error) => request.log(`warning: could not remove ${dir}: ${err.message}`));
    }
  }

  /**
   * The Berth repositories the Dockerfile pulls from (named with one of Berth's `hosts`), each of
   * which the build must be allowed to pull. Images elsewhere (Docker Hub, ...) are buildah's
   * business; its own tokens decide what it reads from Berth.
   */
  private async berthImages(request: BuildRequest, hosts: string[]): Promise<string[]> {
    const dockerfile = parseDockerfile(await readFile(join(request.contextDir, request.dockerfile), 'utf8'));
    let references;
    try {
      references = imageReferences(dockerfile, request.buildArgs, platformArgs({ os: 'linux', architecture: 'amd64' }));
    } catch (err) {
      throw new ImageDeniedError(`cannot tell which images the Dockerfile pulls: ${(err as Error).message}`);
    }
    const repositories = new Set<string>();
    for (const { reference, instruction, line } of references) {
      const repository = berthRepository(reference, hosts);
      if (repository === undefined) continue;
      if (!isValidName(repository) || !(await request.mayPull(repository))) {
        throw new ImageDeniedError(`Dockerfile line ${line}: ${instruction} ${reference}: this build may not pull ${repository} (builds.repositories[].pull)`);
      }
      repositories.add(repository);
    }
    return [...repositories];
  }

  /** Writes registries.conf, policy.json, storage.conf and (with auth) auth.json; returns buildah's environment. */
  private async prepare(dir: string, request: BuildRequest): Promise<NodeJS.ProcessEnv> {
    const { registry, aliases } = this.options;
    await mkdir(join(dir, 'tmp'));
    const registries = [
      'unqualified-search-registries = ["docker.io"]',
      'short-name-mode = "permissive"',
      '',
      '[[registry]]',
      `location = ${toml(registry)}`,
      'insecure = true',
      ...aliases.flatMap((alias) => ['', '[[registry]]', `prefix = ${toml(alias)}`, `location = ${toml(registry)}`, 'insecure = true']),
    ];
    await writeFile(join(dir, 'registries.conf'), `${registries.join('\n')}\n`);
    await writeFile(join(dir, 'policy.json'), JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    await writeFile(join(dir, 'storage.conf'), `[storage]\ndriver = "vfs"\nrunroot = ${toml(join(dir, 'run'))}\ngraphroot = ${toml(join(dir, 'root'))}\n`);
    // Not Berth's environment: it holds secrets (BERTH_*, AWS_*) that a build's RUN steps could read.
    const env: NodeJS.ProcessEnv = {
      ...buildahEnvironment(process.env),
      CONTAINERS_REGISTRIES_CONF: join(dir, 'registries.conf'),
      CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf'),
      BUILDAH_ISOLATION: 'chroot',
      TMPDIR: join(dir, 'tmp'),
    };
    const hosts = [registry, ...aliases];
    const bases = await this.berthImages(request, hosts);
    if (this.options.credentials) {
      const tokens = await this.options.credentials(request.repository, bases);
      if (tokens) {
        const auths: Record<string, { auth: string }> = {};
        for (const [repository, token] of tokens) {
          const auth = Buffer.from(`${BUILD_USER}:${token}`).toString('base64');
          for (const host of hosts) auths[`${host}/${repository}`] = { auth };
        }
        await writeFile(join(dir, 'auth.json'), JSON.stringify({ auths }), { mode: 0o600 });
        env.REGISTRY_AUTH_FILE = join(dir, 'auth.json');
      }
    }
    return env;
  }
}
