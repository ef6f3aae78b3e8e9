/**
 * A registry with no linked repository (the default) loads the builds code only when its routes
 * are first asked for (src/builds/load.ts): until then the webhook parser, queue and builders
 * stay out of memory; then the routes answer as they always do.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, errorCode } from '../helpers/http.js';
import { filesystemConfig, startTestServer, type TestServer } from '../helpers/server.js';

/** Whether tar-stream (the builds' source and layer tar code, CommonJS) has been loaded in this process. */
function buildsLoaded(): boolean {
  return Object.keys(createRequire(import.meta.url).cache).some((path) => path.includes('/node_modules/tar-stream/'));
}

describe('builds without a linked repository', () => {
  let server: TestServer;
  let client: Client;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const made = await filesystemConfig();
    cleanup = made.cleanup;
    server = await startTestServer(made.config);
    client = new Client(server.url);
  });

  afterAll(async () => {
    await server?.close();
    await cleanup?.();
  });

  it('serves the registry without loading the builds code, then loads it for its routes', async () => {
    expect((await client.get('/v2/')).status).toBe(200);
    expect(buildsLoaded()).toBe(false);

    const list = await client.get('/api/builds');
    expect(list.status).toBe(200);
    expect(list.json).toMatchObject({ builds: [] });
    expect(buildsLoaded()).toBe(true);

    const unknown = await client.get('/api/builds/b-nope');
    expect(unknown.status).toBe(404);
    // With nothing linked there is no webhook to send a body to.
    const webhook = await client.request('POST', '/webhooks/github', { body: '{}', headers: { 'X-GitHub-Event': 'push', 'Content-Type': 'application/json' } });
    expect(webhook.status).toBe(404);
    const wrongMethod = await client.request('PUT', '/api/builds');
    expect(wrongMethod.status).toBe(405);
    expect(errorCode(wrongMethod)).toBe('UNSUPPORTED');
  });
});
