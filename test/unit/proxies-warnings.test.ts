/** trustedProxies (which X-Forwarded-* to believe), the start-up warnings, and the new config keys' checks. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { deploymentWarnings } from '../../src/deployment-warnings.js';
import { checkProxies, clientAddress, TrustedProxies } from '../../src/http/proxies.js';
import { Client } from '../helpers/http.js';
import { filesystemConfig, startTestServer } from '../helpers/server.js';

describe('trusted proxies', () => {
  const trusted = new TrustedProxies(['10.0.0.0/8', '::1/128', '192.168.1.7']);

  it('matches CIDRs, bare addresses and IPv4 peers on dual-stack sockets', () => {
    expect(trusted.has('10.2.3.4')).toBe(true);
    expect(trusted.has('::ffff:10.2.3.4')).toBe(true);
    expect(trusted.has('192.168.1.7')).toBe(true);
    expect(trusted.has('192.168.1.8')).toBe(false);
    expect(trusted.has('::1')).toBe(true);
    expect(trusted.has('not an address')).toBe(false);
  });

  it('takes the client from X-Forwarded-For only through trusted hops, walking from the nearest', () => {
    expect(clientAddress('203.0.113.9', '1.2.3.4', trusted)).toBe('203.0.113.9'); // untrusted peer: header ignored
    expect(clientAddress('10.0.0.1', '1.2.3.4', trusted)).toBe('1.2.3.4');
    expect(clientAddress('10.0.0.1', 'spoofed, 1.2.3.4, 10.0.0.2', trusted)).toBe('1.2.3.4'); // a client's own header stops at the first untrusted hop
    expect(clientAddress('10.0.0.1', '', trusted)).toBe('10.0.0.1');
    expect(clientAddress('10.0.0.1', 'garbage', trusted)).toBe('10.0.0.1');
  });

  it('checks the config list', () => {
    expect(checkProxies(['10.0.0.0/8', 'fd00::/8', '127.0.0.1'], 'trustedProxies')).toHaveLength(3);
    expect(() => checkProxies(['10.0.0.0/33'], 'trustedProxies')).toThrow(/trustedProxies: "10.0.0.0\/33" is not an address or CIDR/);
    expect(() => checkProxies('10.0.0.0/8', 'trustedProxies')).toThrow(/must be a list/);
  });

  it('logs the forwarded client address only from a trusted proxy', async () => {
    for (const [proxies, expected] of [
      [['127.0.0.0/8'], '198.51.100.7'],
      [[], '127.0.0.1'],
    ] as const) {
      const { config, cleanup } = await filesystemConfig((c) => (c.trustedProxies = [...proxies]));
      const server = await startTestServer(config);
      try {
        await new Client(server.url).get('/v2/', { 'X-Forwarded-For': '198.51.100.7' });
        await new Promise((resolve) => setTimeout(resolve, 20));
        expect(server.logs.find((l) => l.msg === 'request')?.remote).toBe(expected);
      } finally {
        await server.close();
        await cleanup();
      }
    }
  });
});

describe('deployment warnings', () => {
  const base = (env: Record<string, string>) => loadConfig({ env: { BERTH_AUTH_MODE: 'token', BERTH_LISTEN: '0.0.0.0:5000', ...env } });
  const realmWarning = (env: Record<string, string>) => deploymentWarnings(base(env)).some((w) => w.message.startsWith('token auth over plain HTTP'));

  it('warns when auth is on, the listener is plain HTTP off loopback, and no realm is set', () => {
    expect(realmWarning({})).toBe(true);
    expect(realmWarning({ BERTH_AUTH_REALM: 'https://registry.example.com/token' })).toBe(false);
    expect(realmWarning({ BERTH_LISTEN: '127.0.0.1:5000' })).toBe(false);
    expect(realmWarning({ BERTH_AUTH_MODE: 'none' })).toBe(false);
    expect(deploymentWarnings(loadConfig({ env: { BERTH_AUTH_TRUSTFORWARDEDHEADERS: 'true' } }))[0]!.message).toMatch(/trustForwardedHeaders is deprecated/);
  });
});

describe('config of tls, metrics and gc.schedule', () => {
  it('names the key that is wrong', () => {
    expect(() => loadConfig({ env: { BERTH_TLS_CERTIFICATE: '/x.pem' } })).toThrow('tls.certificate and tls.key: give both');
    expect(() => loadConfig({ env: { BERTH_TLS_ACME_DIRECTORY: 'https://acme.example/dir' } })).toThrow('tls.acme.domains: name at least one domain');
    expect(() => loadConfig({ env: { BERTH_TLS_ACME_CHALLENGE: 'dns-01' } })).toThrow(/tls\.acme\.challenge: must be one of http-01, tls-alpn-01/);
    expect(() => loadConfig({ env: { BERTH_METRICS_LISTEN: 'nowhere' } })).toThrow(/metrics\.listen: must be HOST:PORT/);
    expect(() => loadConfig({ env: { BERTH_GC_SCHEDULE: 'daily' } })).toThrow(/gc\.schedule: must be a duration/);
    expect(() => loadConfig({ env: { BERTH_GC_SCHEDULE: '0h' } })).toThrow(/gc\.schedule: must be longer than 0/);
    expect(loadConfig({ env: { BERTH_GC_SCHEDULE: '24h', BERTH_METRICS_LISTEN: '127.0.0.1:9090' } })).toMatchObject({ gc: { schedule: '24h' }, metrics: { listen: '127.0.0.1:9090' } });
  });
});
