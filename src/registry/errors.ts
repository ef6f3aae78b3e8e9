/**
 * Errors of the OCI domain. The registry layer throws these; the HTTP layer (src/http/errors.ts)
 * renders them as the spec's `{"errors":[...]}` envelope with the status its table gives.
 */
export type ErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  // Beyond the spec's table (clients treat unknown codes as UNKNOWN), named as Distribution does:
  | 'TAG_INVALID'
  | 'PAGINATION_NUMBER_INVALID'
  | 'RANGE_INVALID'
  | 'UNAVAILABLE'
  | 'UNKNOWN';

export interface ErrorOptions {
  /** Machine-readable detail for the client (the envelope's `detail`). */
  detail?: unknown;
  /**
   * The status when it differs from the code's usual one, where the spec asks for it: 416 for an
   * out-of-order chunk, 413 for an oversize manifest.
   */
  status?: number;
  /** Headers the response must carry (for example the upload's current `Range`). */
  headers?: Record<string, string>;
  cause?: unknown;
}

export class RegistryError extends Error {
  readonly detail: unknown;
  readonly status: number | undefined;
  readonly headers: Record<string, string>;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: ErrorOptions = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'RegistryError';
    this.detail = options.detail;
    this.status = options.status;
    this.headers = options.headers ?? {};
  }
}
