/**
 * The ALPN protocols a TLS ClientHello offers, read from the first bytes of a connection before
 * TLS starts: how a TLS-ALPN-01 validation (`acme-tls/1`) is told apart from an ordinary client
 * on the same port (RFC 8737). Bounds: one TLS record (16 KiB), every length checked.
 */
import type { Socket } from 'node:net';

const MAX_RECORD = 5 + 16 * 1024;
const HANDSHAKE = 0x16;
const CLIENT_HELLO = 0x01;
const ALPN_EXTENSION = 16;

/** The protocols offered in a complete first TLS record; [] when it is not a ClientHello or has none. */
export function alpnProtocols(record: Buffer): string[] {
  if (record.length < 5 || record[0] !== HANDSHAKE) return [];
  const body = record.subarray(5, 5 + record.readUInt16BE(3));
  if (body.length < 4 || body[0] !== CLIENT_HELLO) return [];
  let p = 4 + 2 + 32; // handshake header, client_version, random
  const need = (n: number): boolean => p + n <= body.length;
  if (!need(1)) return [];
  p += 1 + body[p]!; // session id
  if (!need(2)) return [];
  p += 2 + body.readUInt16BE(p); // cipher suites
  if (!need(1)) return [];
  p += 1 + body[p]!; // compression methods
  if (!need(2)) return [];
  const end = Math.min(body.length, p + 2 + body.readUInt16BE(p));
  p += 2;
  while (p + 4 <= end) {
    const type = body.readUInt16BE(p);
    const length = body.readUInt16BE(p + 2);
    p += 4;
    if (p + length > end) return [];
    if (type === ALPN_EXTENSION) {
      const protocols: string[] = [];
      let q = p + 2;
      const listEnd = Math.min(p + length, q + body.readUInt16BE(p));
      while (q < listEnd) {
        const n = body[q]!;
        if (q + 1 + n > listEnd) return protocols;
        protocols.push(body.subarray(q + 1, q + 1 + n).toString('latin1'));
        q += 1 + n;
      }
      return protocols;
    }
    p += length;
  }
  return [];
}

/**
 * Reads the first TLS record off a fresh socket and puts the bytes back (`unshift`), so that TLS
 * can start as if nothing had been read. Resolves with what was read; a silent client is dropped
 * after `timeoutMs`.
 */
export function peekFirstRecord(socket: Socket, timeoutMs = 10_000): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    let chunks: Buffer[] = [];
    let size = 0;
    const done = (record: Buffer | undefined): void => {
      clearTimeout(timer);
      socket.off('data', onData).off('end', onEnd).off('error', onEnd);
      socket.pause();
      if (record) socket.unshift(record);
      resolve(record);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      const data = Buffer.concat(chunks);
      chunks = [data];
      const whole = data.length >= 5 ? 5 + data.readUInt16BE(3) : Number.POSITIVE_INFINITY;
      if (data.length >= whole || size >= MAX_RECORD || (data.length > 0 && data[0] !== HANDSHAKE)) done(data);
    };
    const onEnd = (): void => done(undefined);
    const timer = setTimeout(() => {
      done(undefined);
      socket.destroy();
    }, timeoutMs);
    socket.on('data', onData).once('end', onEnd).once('error', onEnd);
  });
}
