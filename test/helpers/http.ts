/** A small HTTP client for API tests: real requests with fetch, convenient results. */
import { createHash } from 'node:crypto';

export interface Reply {
  status: number;
  headers: Headers;
  body: Buffer;
  /** The parsed JSON body (undefined when the body is not JSON). */
  /** `any`: tests inspect reply bodies freely. */
  json: any;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: Uint8Array | string | AsyncIterable<Uint8Array>;
}

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function sha512(data: Uint8Array | string): string {
  return `sha512:${createHash('sha512').update(data).digest('hex')}`;
}

export class Client {
  /** `headers` go with every request (credentials, say). */
  constructor(
    readonly base: string,
    private readonly headers: Record<string, string> = {},
  ) {}

  async request(method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
    const init: RequestInit & { duplex?: 'half' } = { method, headers: { ...this.headers, ...options.headers }, redirect: 'manual' };
    if (options.body !== undefined) {
      init.body = options.body as RequestInit['body'];
      if (typeof options.body === 'object' && Symbol.asyncIterator in options.body) init.duplex = 'half';
    }
    const res = await fetch(new URL(path, this.base), init);
    const body = Buffer.from(await res.arrayBuffer());
    let json: unknown;
    try {
      json = body.length ? JSON.parse(body.toString('utf8')) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, body, json };
  }

  get(path: string, headers?: Record<string, string>): Promise<Reply> {
    return this.request('GET', path, { headers });
  }

  head(path: string, headers?: Record<string, string>): Promise<Reply> {
    return this.request('HEAD', path, { headers });
  }

  delete(path: string): Promise<Reply> {
    return this.request('DELETE', path);
  }

  /** Pushes a blob in one POST (`?digest=`); returns its digest. */
  async pushBlob(name: string, data: Uint8Array | string): Promise<string> {
    const digest = sha256(data);
    const res = await this.request('POST', `/v2/${name}/blobs/uploads/?digest=${digest}`, {
      body: data,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    if (res.status !== 201) throw new Error(`push blob: ${res.status} ${res.body.toString()}`);
    return digest;
  }

  /** Pushes a manifest object; returns its digest. */
  async pushManifest(name: string, reference: string, manifest: unknown, mediaType?: string): Promise<string> {
    const bytes = Buffer.from(JSON.stringify(manifest));
    const type = mediaType ?? (manifest as { mediaType?: string }).mediaType ?? 'application/vnd.oci.image.manifest.v1+json';
    const res = await this.request('PUT', `/v2/${name}/manifests/${reference}`, { body: bytes, headers: { 'Content-Type': type } });
    if (res.status !== 201) throw new Error(`push manifest: ${res.status} ${res.body.toString()}`);
    return sha256(bytes);
  }

  /** Starts an upload session; returns its Location. */
  async startUpload(name: string): Promise<string> {
    const res = await this.request('POST', `/v2/${name}/blobs/uploads/`);
    if (res.status !== 202) throw new Error(`start upload: ${res.status} ${res.body.toString()}`);
    return res.headers.get('location')!;
  }
}

/** The error code of an OCI error reply. */
export function errorCode(reply: Reply): string | undefined {
  return reply.json?.errors?.[0]?.code;
}

export function withQuery(location: string, query: string): string {
  return location + (location.includes('?') ? '&' : '?') + query;
}

/** An OCI image manifest for a config and layers (each as [digest, size]). */
export function imageManifest(config: [string, number], layers: [string, number][], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config[0], size: config[1] },
    layers: layers.map(([digest, size]) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size })),
    ...extra,
  };
}
