/**
 * `berth mirror SRC DEST [--all-platforms] [--platform os/arch] [--referrers]`: copies an image
 * or index from any registry into a repository of Berth's storage (the config's: no server
 * needed, safe while one serves), e.g. to pin base images. Writes go through the registry layer
 * (verified, events by actor `mirror`); the upstream client is the pull-through cache's.
 */
import { parseArgs } from 'node:util';
import { commandConfig, readSecretFromStdin, UsageError } from '../cli-util.js';
import { commandRecorder } from '../events/index.js';
import { createLogger } from '../log.js';
import { checkName, checkTag } from '../registry/names.js';
import { Registry } from '../registry/registry.js';
import { createStorageDriver } from '../storage.js';
import { parseDuration } from '../util/index.js';
import { proxySettings } from './config.js';
import { CopyError, copyImage } from './copy.js';
import { hostPlatform, parsePlatform, platformString } from './platform.js';
import { parseSourceReference } from './reference.js';
import { CacheMarkers } from './state.js';
import { UpstreamClient } from './upstream.js';
import { UpstreamError } from './upstream-errors.js';

export const MIRROR_USAGE = `usage: berth mirror SRC DEST [options]

Copies an image or a multi-platform index from any registry into a repository here.

  SRC   alpine:3.20 (Docker Hub), ghcr.io/acme/app:1, registry.example.com/team/app@sha256:...,
        http://127.0.0.1:5001/team/app:2 (plain HTTP)
  DEST  a repository here with an optional tag: mirror/alpine:3.20 (no tag: SRC's tag)

options:
  --all-platforms     copy every image of an index, and the index (default: the one image for
                      --platform, tagged as DEST)
  --platform P        os/arch[/variant] to take from an index (default: ${platformString(hostPlatform())})
  --referrers         also copy the referrers (signatures, SBOMs) of what is copied
  --username U        sign in to SRC's registry as U, with the password from standard input
  --password-stdin    (with --username) read the password from standard input
  --timeout D         longest wait for SRC's registry to answer (default 60s)
  --config FILE       config file whose storage receives the copy

Without --username, the credentials of a proxies[] entry whose url is SRC's registry are used,
else none.
`;

export async function runMirrorCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      'all-platforms': { type: 'boolean', default: false },
      platform: { type: 'string' },
      referrers: { type: 'boolean', default: false },
      username: { type: 'string' },
      'password-stdin': { type: 'boolean', default: false },
      timeout: { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(MIRROR_USAGE);
    return;
  }
  if (positionals.length !== 2) throw new UsageError('give SRC and DEST');
  const [srcText, destText] = positionals as [string, string];
  let source: ReturnType<typeof parseSourceReference>;
  try {
    source = parseSourceReference(srcText);
  } catch (err) {
    throw new UsageError(`SRC: ${(err as Error).message}`);
  }
  const dest = parseDestination(destText, source.reference);
  const platform = values.platform === undefined ? hostPlatform() : parsePlatform(values.platform);
  if (!platform) throw new UsageError(`--platform: os/arch or os/arch/variant, like linux/arm64 (got ${JSON.stringify(values.platform)})`);
  if (values['password-stdin'] && !values.username) throw new UsageError('--password-stdin goes with --username');
  const timeoutMs = values.timeout === undefined ? 60_000 : parseDuration(values.timeout);
  if (timeoutMs === undefined || timeoutMs < 1000) throw new UsageError(`--timeout: a duration of at least 1s, like 60s or 5m (got ${JSON.stringify(values.timeout)})`);

  const config = commandConfig(values.config);
  const cached = config.proxies.find((p) => p.prefix !== '' && (dest.name === p.prefix || dest.name.startsWith(`${p.prefix}/`)));
  if (cached) throw new UsageError(`DEST: ${dest.name} is under ${cached.prefix}/, the pull-through cache of ${cached.url}; copy to a repository outside it, or list the image in that proxy's sync`);
  const driver = await createStorageDriver(config.storage);
  if (config.proxies.some((p) => p.prefix === '') && (await new CacheMarkers(driver).isCache(dest.name))) {
    throw new UsageError(`DEST: ${dest.name} is a pull-through cache (of the proxy without prefix); copy to another repository`);
  }

  let username = values.username ?? '';
  let password = username ? (values['password-stdin'] ? await readSecretFromStdin() : '') : '';
  if (!username) {
    const known = config.proxies.find((p) => p.url === source.origin && p.username !== '');
    if (known) ({ username, password } = proxySettings(known));
  }
  const client = new UpstreamClient({ url: source.origin, username, password, timeoutMs });
  const log = createLogger('silent');
  const registry = new Registry(driver, { ...config.limits }, log, { changes: commandRecorder(config.notifications, driver, log).observer });
  try {
    const report = await copyImage(client, source, registry, dest, {
      allPlatforms: values['all-platforms'],
      platform,
      referrers: values.referrers,
      maxManifestSize: config.limits.maxManifestSize,
      origin: { actor: { name: 'mirror' } },
      progress: (line) => process.stdout.write(`copied ${line}\n`),
    });
    const named = dest.tag ? `${dest.name}:${dest.tag}` : dest.name;
    process.stdout.write(`${named}@${report.digest} (${report.mediaType}): ${report.manifests} manifests, ${report.blobs} blobs (${report.bytes} bytes) copied\n`);
  } catch (err) {
    if (err instanceof UpstreamError || err instanceof CopyError) {
      process.stderr.write(`berth: ${err.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw err;
  } finally {
    await client.close();
  }
}

/** `name[:tag]`; no tag takes SRC's (none when SRC names a digest). */
function parseDestination(text: string, sourceReference: string): { name: string; tag?: string } {
  const colon = text.lastIndexOf(':');
  const hasTag = colon > text.lastIndexOf('/');
  const name = hasTag ? text.slice(0, colon) : text;
  const tag = hasTag ? text.slice(colon + 1) : sourceReference.includes(':') ? undefined : sourceReference;
  try {
    checkName(name);
    if (tag !== undefined) checkTag(tag);
  } catch (err) {
    throw new UsageError(`DEST: ${(err as Error).message}`);
  }
  return tag === undefined ? { name } : { name, tag };
}
