/**
 * Events on a real S3 (Ceph's RADOS Gateway, which honours `If-None-Match: *`; s3rver ignores it
 * and so cannot prove a claim): the delivery lease is taken by one of many at once, and two Berth
 * replicas on one bucket deliver each event once. Skipped when the Ceph packages are not installed.
 */
import { describe, expect, it } from 'vitest';
import { Lease } from '../../src/events/lease.js';
import { Client, imageManifest, sha256 } from '../helpers/http.js';
import { Receiver } from '../helpers/receiver.js';
import { rgwConfig } from '../helpers/rgw-config.js';
import { freshRgwDriver, rgwAvailable, useRgw } from '../helpers/rgw.js';
import { startTestServer } from '../helpers/server.js';

const SECRET = 'rgw-test-secret-0123456789abcdef';

describe.skipIf(!rgwAvailable())('events on RADOS Gateway', { timeout: 120_000 }, () => {
  const rgw = useRgw();

  it('gives an endpoint lease term to exactly one of eight replicas trying at once', async () => {
    const { driver, cleanup } = await freshRgwDriver(rgw());
    try {
      for (let round = 0; round < 3; round++) {
        const leases = Array.from({ length: 8 }, (_, i) => new Lease(driver, `hook${round}`, `replica-${i}`, 10_000));
        expect((await Promise.all(leases.map((lease) => lease.acquire()))).filter(Boolean)).toHaveLength(1);
      }
    } finally {
      await cleanup();
    }
  });

  it('delivers each event once with two replicas on one bucket', async () => {
    const hooks = await Receiver.start(SECRET);
    const made = await rgwConfig(rgw(), (config) => {
      config.notifications = {
        ...config.notifications,
        endpoints: [{ name: 'shared', url: `${hooks.url}/shared`, secret: SECRET, events: ['push'], repositories: ['*'], format: 'cloudevents', headers: {}, timeoutMs: 5000 }],
        poll: '200ms',
        lease: '3s',
        backoff: { initial: '100ms', max: '500ms' },
      };
    });
    const a = await startTestServer(made.config);
    const b = await startTestServer(made.config);
    try {
      const clients = [new Client(a.url), new Client(b.url)];
      for (let i = 0; i < 6; i++) {
        const client = clients[i % 2]!;
        const config = `{"seed":"${Math.random()}"}`;
        await client.pushBlob('rgw/app', config);
        await client.pushManifest('rgw/app', `t${i}`, imageManifest([sha256(config), config.length], []));
      }
      await hooks.waitFor(() => hooks.accepted().length >= 6, 30_000);
      await new Promise((r) => setTimeout(r, 600)); // a duplicate would come within a poll or two
      const ids = hooks.accepted().map((e) => e.id);
      expect(ids).toHaveLength(6);
      expect(new Set(ids).size).toBe(6);
      expect(hooks.deliveries.every((d) => d.verified)).toBe(true);
    } finally {
      await a.close();
      await b.close();
      await made.cleanup();
      await hooks.close();
    }
  });
});
