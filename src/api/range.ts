/** Parsing of the two range headers: `Range` on blob GET (RFC 9110) and upload `Content-Range`. */
import { RegistryError } from '../registry/errors.js';
import type { ChunkRange } from '../registry/uploads.js';

export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

/**
 * A blob GET's `Range` against a blob of `size` bytes: the one range to serve, undefined to
 * serve the whole blob (no header, or several ranges, which RFC 9110 lets a server ignore), or
 * 'unsatisfiable' for a malformed or out-of-bounds range (answered 416).
 */
export function parseRangeHeader(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const match = /^\s*bytes\s*=\s*(.*)$/i.exec(header);
  if (!match) return 'unsatisfiable';
  const specs = match[1]!.split(',').map((s) => s.trim());
  if (specs.length > 1) return undefined;
  const spec = /^(\d*)-(\d*)$/.exec(specs[0]!);
  if (!spec || (spec[1] === '' && spec[2] === '')) return 'unsatisfiable';
  if (spec[1] === '') {
    const suffix = Number(spec[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(size - suffix, 0), end: size - 1 };
  }
  const start = Number(spec[1]);
  const end = spec[2] === '' ? size - 1 : Math.min(Number(spec[2]), size - 1);
  if (start >= size || start > end || !Number.isSafeInteger(start)) return 'unsatisfiable';
  return { start, end };
}

/**
 * An upload chunk's `Content-Range`: the OCI form `<start>-<end>` (inclusive); the RFC 9110
 * form `bytes <start>-<end>/<total|*>` is taken too. undefined without the header.
 */
export function parseContentRange(header: string | undefined): ChunkRange | undefined {
  if (!header) return undefined;
  // Trimmed first: whitespace on both sides of an optional part made the expression quadratic.
  const match = /^(?:bytes[ =] *)?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/i.exec(header.trim());
  if (!match) {
    throw new RegistryError('BLOB_UPLOAD_INVALID', 'invalid Content-Range: expected <start>-<end>', { detail: { contentRange: header.slice(0, 100) } });
  }
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) {
    throw new RegistryError('BLOB_UPLOAD_INVALID', 'invalid Content-Range: end before start', { status: 416, detail: { contentRange: header.slice(0, 100) } });
  }
  return { start, end };
}
