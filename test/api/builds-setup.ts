/**
 * Shared setup of the build API tests: a Berth server whose builds use a fake GitHub and (unless
 * told otherwise) the fake buildah of test/fixtures/builds/pipeline-fake-buildah, which builds
 * nothing: these tests are about webhooks, the queue and the API, fast and without images.
 */
import { join } from 'node:path';
import type { Config } from '../../src/config.js';
import { type FakeGitHub, pushPayload, signedDelivery } from '../helpers/fake-github.js';
import { Client, type Reply } from '../helpers/http.js';
import { filesystemConfig, startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';

export const FIXTURES = join(import.meta.dirname, '../fixtures/builds');
export const FAKE_BUILDAH = join(FIXTURES, 'pipeline-fake-buildah/buildah');
export const SECRET = 'webhook-secret-1';
export const REPO = 'acme/hello';

export interface BuildsEnv {
  server: TestServer;
  client: Client;
  config: Config;
  /** Storage root and work dir (for a second server on the same storage). */
  root: string;
  workDir: string;
  deliver(event: string, payload: unknown, options?: { secret?: string; delivery?: string }): Promise<Reply>;
  push(ref: string, sha: string, options?: { message?: string; delivery?: string; repository?: string }): Promise<Reply>;
  /** Waits until the build is in one of `states` (asking with `headers`: credentials); returns its record. */
  waitFor(id: string, states?: string[], ms?: number, headers?: Record<string, string>): Promise<Record<string, any>>;
  /** Stops the server, keeping storage and work dir. */
  stop(): Promise<void>;
  /** Stops the server and removes what it made (nothing of a reused storage). */
  close(): Promise<void>;
}

export function linkedRepository(overrides: Partial<Config['builds']['repositories'][number]> = {}): Config['builds']['repositories'][number] {
  return { github: REPO, secret: SECRET, image: 'acme/hello', token: '', rules: [], pull: [], ...overrides };
}

export async function startBuildsEnv(github: FakeGitHub, configure: (config: Config) => void = () => {}, reuse?: { root: string; workDir: string }): Promise<BuildsEnv> {
  const made = await filesystemConfig();
  if (reuse) await made.cleanup(); // its fresh folder is not used
  const work = reuse ? undefined : await tempDir('berth-builds-work-');
  const root = reuse?.root ?? made.config.storage.filesystem.root;
  const workDir = reuse?.workDir ?? work!.path;
  const config = made.config;
  config.storage.filesystem.root = root;
  config.builds = {
    ...config.builds,
    builder: 'buildah',
    buildah: FAKE_BUILDAH,
    workDir,
    pollSeconds: 1,
    github: { api: github.url, token: 'ghp_test_token' },
    repositories: [linkedRepository()],
  };
  configure(config);
  const server = await startTestServer(config);
  const client = new Client(server.url);
  const env: BuildsEnv = {
    server,
    client,
    config,
    root,
    workDir,
    deliver: (event, payload, options = {}) => {
      const signed = signedDelivery(options.secret ?? SECRET, event, payload, options.delivery);
      return client.request('POST', '/webhooks/github', { body: signed.body, headers: signed.headers });
    },
    push: (ref, sha, options = {}) => env.deliver('push', pushPayload({ repository: options.repository ?? REPO, ref, sha, message: options.message }), { delivery: options.delivery }),
    waitFor: async (id, states = ['succeeded', 'failed', 'cancelled'], ms = 20_000, headers = {}) => {
      const end = Date.now() + ms;
      for (;;) {
        const res = await client.get(`/api/builds/${id}`, headers);
        if (res.status === 200 && states.includes(res.json.state)) return res.json;
        if (Date.now() > end) throw new Error(`build ${id} is ${res.json?.state ?? res.status}, not ${states.join('|')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop: () => server.close(),
    close: async () => {
      await server.close();
      if (!reuse) {
        await made.cleanup();
        await work!.remove();
      }
    },
  };
  return env;
}
