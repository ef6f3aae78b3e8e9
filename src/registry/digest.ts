/**
 * Content digests (`algorithm:hex`): parsing, and hashing while bytes stream past.
 * sha256 and sha512 are supported, as the OCI image spec registers them.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { RegistryError } from './errors.js';

export type Algorithm = 'sha256' | 'sha512';
export const DEFAULT_ALGORITHM: Algorithm = 'sha256';

const HEX_LENGTH: Record<Algorithm, number> = { sha256: 64, sha512: 128 };
const GRAMMAR = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export interface ParsedDigest {
  algorithm: Algorithm;
  hex: string;
}

export function isAlgorithm(value: string): value is Algorithm {
  return value === 'sha256' || value === 'sha512';
}

/** Parses and checks a digest string; DIGEST_INVALID when malformed or of another algorithm. */
export function parseDigest(digest: string): ParsedDigest {
  if (typeof digest !== 'string' || digest.length > 200 || !GRAMMAR.test(digest)) {
    throw new RegistryError('DIGEST_INVALID', 'invalid digest: expected algorithm:hex', { detail: { digest: String(digest).slice(0, 200) } });
  }
  const [algorithm, hex] = digest.split(':') as [string, string];
  if (!isAlgorithm(algorithm)) {
    throw new RegistryError('DIGEST_INVALID', `unsupported digest algorithm ${algorithm}: use sha256 or sha512`, { detail: { digest } });
  }
  if (hex.length !== HEX_LENGTH[algorithm] || !/^[a-f0-9]+$/.test(hex)) {
    throw new RegistryError('DIGEST_INVALID', `invalid ${algorithm} digest: expected ${HEX_LENGTH[algorithm]} lowercase hex characters`, {
      detail: { digest },
    });
  }
  return { algorithm, hex };
}

export function isDigest(reference: string): boolean {
  return reference.includes(':');
}

export function digestOf(data: Uint8Array, algorithm: Algorithm = DEFAULT_ALGORITHM): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

export function hashToDigest(hash: Hash, algorithm: Algorithm): string {
  return `${algorithm}:${hash.copy().digest('hex')}`;
}

/**
 * A pass-through stream that feeds every byte to `hash` (when given), counts bytes, and fails
 * once more than `limit` bytes went through (the bytes over the limit are never passed on).
 */
export class HashingStream extends Transform {
  bytes = 0;

  constructor(
    readonly hash: Hash | undefined,
    private readonly limit = Number.POSITIVE_INFINITY,
    private readonly onLimit: () => Error = () => new Error('too many bytes'),
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      callback(this.onLimit());
      return;
    }
    this.hash?.update(chunk);
    callback(null, chunk);
  }
}
