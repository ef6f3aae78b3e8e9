/**
 * No auth configured and a listen address off loopback (`docker run -p 5000:5000 berth`): pulls
 * are served, pushes and deletes refused with DENIED naming the fix, until the config chooses
 * `auth.mode: none` (open to anyone, on purpose) or token auth. The app is built with such a
 * listen address but served on 127.0.0.1 here: tests never listen off loopback.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StorageDriver } from '../../storage-drivers/driver.js';
import { createMemoryDriver } from '../../storage-drivers/memory.js';
import { createApp } from '../../src/app.js';
import type { Config } from '../../src/config.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';

const BLOB = Buffer.from('hello');
const DIGEST = 'sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824';

describe('a registry without auth off loopback', () => {
  let driver: StorageDriver;
  const servers: Server[] = [];

  beforeEach(() => {
    driver = createMemoryDriver();
  });
  afterEach(async () => {
    for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  });

  async function serve(env: NodeJS.ProcessEnv): Promise<string> {
    const config: Config = loadConfig({ env });
    const app = await createApp(config, { log: createLogger('silent'), driver });
    const server = createServer(app.koa.callback());
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  const push = (url: string) => fetch(`${url}/v2/demo/files/blobs/uploads/?digest=${DIGEST}`, { method: 'POST', body: BLOB });

  it('serves pulls and refuses pushes and deletes when nobody chose auth.mode', async () => {
    const open = await serve({ BERTH_LISTEN: '127.0.0.1:5000' });
    expect((await push(open)).status).toBe(201);

    const exposed = await serve({ BERTH_LISTEN: '0.0.0.0:5000' });
    const pulled = await fetch(`${exposed}/v2/demo/files/blobs/${DIGEST}`);
    expect(pulled.status).toBe(200);
    expect(Buffer.from(await pulled.arrayBuffer())).toEqual(BLOB);

    const refused = await push(exposed);
    expect(refused.status).toBe(403);
    const body = (await refused.json()) as { errors: { code: string; message: string; detail: { fix: string } }[] };
    expect(body.errors[0]!.code).toBe('DENIED');
    expect(body.errors[0]!.message).toMatch(/push refused: this registry has no authentication/);
    expect(body.errors[0]!.detail.fix).toMatch(/auth\.mode: token.*auth\.mode: none/);
    expect((await fetch(`${exposed}/v2/demo/files/blobs/${DIGEST}`, { method: 'DELETE' })).status).toBe(403);
    expect((await fetch(`${exposed}/v2/demo/files/blobs/uploads/`, { method: 'POST' })).status).toBe(403);
  });

  it('lets anyone write when the config says auth.mode: none', async () => {
    const chosen = await serve({ BERTH_LISTEN: '0.0.0.0:5000', BERTH_AUTH_MODE: 'none' });
    expect((await push(chosen)).status).toBe(201);
    expect((await fetch(`${chosen}/v2/demo/files/blobs/${DIGEST}`, { method: 'DELETE' })).status).toBe(202);
  });
});
