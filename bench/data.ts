/**
 * Seeded pseudo-random bytes that are never held in memory whole: AES-128-CTR over zeros, keyed by
 * the seed. CTR mode can start at any 16-byte block, so a chunked upload asks for exactly the
 * bytes [offset, offset + length) of a blob without generating what comes before.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { MiB } from './results.js';

const PIECE = MiB;
const BLOCK = 16;
const ZEROS = Buffer.alloc(PIECE);

/** A blob described by its seed and size; its digest is computed by streaming it once. */
export interface BlobSpec {
  seed: string;
  size: number;
  digest: string;
}

function counterFor(offset: number): Buffer {
  if (offset % BLOCK !== 0) throw new Error(`random stream offsets must be multiples of ${BLOCK}, got ${offset}`);
  const iv = Buffer.alloc(BLOCK);
  iv.writeBigUInt64BE(BigInt(offset / BLOCK), 8);
  return iv;
}

/** The bytes [offset, offset + length) of the blob named by `seed`, as a stream. */
export function randomStream(seed: string, offset: number, length: number): Readable {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, counterFor(offset));
  let left = length;
  return new Readable({
    highWaterMark: PIECE,
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const n = Math.min(PIECE, left);
      left -= n;
      this.push(cipher.update(n === PIECE ? ZEROS : ZEROS.subarray(0, n)));
    },
  });
}

/** Digest of a whole stream, computed as it passes (nothing kept). */
export async function streamDigest(stream: AsyncIterable<Buffer>): Promise<{ digest: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, bytes };
}

export async function makeBlob(seed: string, size: number): Promise<BlobSpec> {
  const { digest } = await streamDigest(randomStream(seed, 0, size));
  return { seed, size, digest };
}

/** A small in-memory blob (configs, manifests). */
export function digestOf(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Deterministic sizes in [min, max] from a seed, for "typical image" layers. */
export function seededSizes(seed: string, count: number, min: number, max: number): number[] {
  const bytes = createHash('sha256').update(seed).digest();
  return Array.from({ length: count }, (_, i) => {
    const fraction = bytes.readUInt16BE((i * 2) % 30) / 0xffff;
    // Multiples of 16 so any size can also be sent in CTR-aligned pieces.
    return Math.round((min + fraction * (max - min)) / BLOCK) * BLOCK;
  });
}

