/** The parts of ACME that need no CA: the ClientHello's ALPN offer, renewal timing, claims in storage. */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { AcmeStore, STALE_MS } from '../../src/tls/acme-store.js';
import { needsRenewal } from '../../src/tls/acme.js';
import { alpnProtocols, peekFirstRecord } from '../../src/tls/client-hello.js';
import { createMemoryDriver } from '../../storage-drivers/memory.js';

/** The first TLS record a real Node client sends offering `protocols`. */
async function clientHello(protocols: string[] | undefined): Promise<Buffer> {
  let socket!: Socket;
  const server = createServer((s) => (socket = s));
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const client = tlsConnect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, servername: 'localhost', ...(protocols ? { ALPNProtocols: protocols } : {}) });
  client.on('error', () => {});
  while (!socket) await new Promise((ok) => setTimeout(ok, 5));
  const record = await peekFirstRecord(socket);
  client.destroy();
  socket.destroy();
  server.close();
  return record!;
}

describe('ClientHello ALPN', () => {
  it('reads the protocols a real client offers, and none when it offers none', async () => {
    expect(alpnProtocols(await clientHello(['acme-tls/1']))).toEqual(['acme-tls/1']);
    expect(alpnProtocols(await clientHello(['h2', 'http/1.1']))).toEqual(['h2', 'http/1.1']);
    expect(alpnProtocols(await clientHello(undefined))).toEqual([]);
  });

  it('never throws on garbage or truncated records', async () => {
    const hello = await clientHello(['acme-tls/1']);
    for (let cut = 0; cut < hello.length; cut += 7) expect(Array.isArray(alpnProtocols(hello.subarray(0, cut)))).toBe(true);
    expect(alpnProtocols(Buffer.from('GET / HTTP/1.1\r\n\r\n'))).toEqual([]);
    const lying = Buffer.from(hello);
    lying.writeUInt16BE(0xffff, 3);
    expect(Array.isArray(alpnProtocols(lying))).toBe(true);
  });
});

describe('renewal timing', () => {
  it('renews when less than the given share of the life is left', () => {
    const cert = { notBefore: '2026-01-01T00:00:00Z', notAfter: '2026-04-01T00:00:00Z' }; // 90 days
    expect(needsRenewal(cert, 33, Date.parse('2026-02-28T00:00:00Z'))).toBe(false); // 32 days left
    expect(needsRenewal(cert, 33, Date.parse('2026-03-03T00:00:00Z'))).toBe(true); // 29 days left
    expect(needsRenewal(cert, 33, Date.parse('2026-05-01T00:00:00Z'))).toBe(true); // expired
  });
});

describe('order claims', () => {
  it('lets one replica order per generation; a failed or stale claim opens the next attempt', async () => {
    const driver = createMemoryDriver();
    const a = new AcmeStore(driver, ['registry.example.com']);
    const b = new AcmeStore(driver, ['registry.example.com']);
    const now = Date.parse('2026-06-01T00:00:00Z');
    const claims = await Promise.all([a.claim('none', 'a', now), b.claim('none', 'b', now)]);
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await b.claim('none', 'b', now + 1000)).toBeUndefined(); // someone is ordering
    await a.failed(claims.find(Boolean)!, 'a');
    const retry = await b.claim('none', 'b', now + 2000);
    expect(retry).toMatch(/\/1$/);
    expect(await a.claim('none', 'a', now + STALE_MS - 1)).toBeUndefined();
    expect(await a.claim('none', 'a', now + 2000 + STALE_MS + 1)).toMatch(/\/2$/); // b's claim went stale
    // The next certificate's generation starts afresh.
    expect(await a.claim('ABC123', 'a', now)).toMatch(/\/ABC123\/0$/);
  });
});
