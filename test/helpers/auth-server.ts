/**
 * A Berth server with token auth for tests: a users file (bcrypt cost 4, fast), teams and rules
 * for a small team, filesystem storage in a temp folder; and helpers to get tokens and forge them
 * (with the server's own signing key, read from its storage, or with any other key).
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { type JWTPayload, SignJWT } from 'jose';
import type { Config } from '../../src/config.js';
import { Client, imageManifest, type Reply, sha256 } from './http.js';
import { filesystemConfig, startTestServer, type TestServer } from './server.js';

export const PASSWORDS: Record<string, string> = {
  alice: 'alice-password-1',
  bob: 'bob-password-2',
  carol: 'carol-password-3',
  dave: 'dave-password-4',
  ci: 'ci-password-5',
};

/**
 * alice and bob (team dev) may do everything on public/* and team-a/*; carol may pull team-a/*;
 * ci may push team-a/*; alice/* is alice's alone; dave only gets what anonymous callers get;
 * anonymous may pull public/*.
 * Everything else is locked.
 */
export function teamAuth(config: Config, usersFile: string): void {
  config.auth = {
    ...config.auth,
    mode: 'token',
    service: 'berth-test',
    issuer: 'berth-test-issuer',
    usersFile,
    teams: { dev: ['alice', 'bob'] },
    rules: [
      { repository: 'public/*', anonymous: ['pull'] },
      { repository: 'public/*', team: 'dev', actions: ['pull', 'push', 'delete'] },
      { repository: 'team-a/*', team: 'dev', actions: ['pull', 'push', 'delete'] },
      { repository: 'team-a/*', user: 'carol', actions: ['pull'] },
      { repository: 'team-a/*', user: 'ci', actions: ['pull', 'push'] },
      { repository: 'alice/*', user: 'alice', actions: ['pull', 'push', 'delete'] },
      { repository: '*', authenticated: [] },
    ],
  };
}

export async function writeUsersFile(path: string, users: Record<string, string> = PASSWORDS): Promise<void> {
  const lines = Object.entries(users).map(([name, password]) => `${name}:${bcrypt.hashSync(password, 4)}\n`);
  await writeFile(path, lines.join(''), { mode: 0o600 });
}

export interface AuthServer {
  server: TestServer;
  client: Client;
  config: Config;
  /** The storage root (the signing key is at `_berth/auth/signing-key.jwk` below it). */
  root: string;
  usersFile: string;
  cleanup(): Promise<void>;
}

export async function startAuthServer(overrides: (config: Config) => void = () => {}): Promise<AuthServer> {
  let usersFile = '';
  let root = '';
  const made = await filesystemConfig((config) => {
    root = config.storage.filesystem.root;
    usersFile = join(root, 'users.htpasswd');
    teamAuth(config, usersFile);
    overrides(config);
  });
  await writeUsersFile(usersFile);
  const server = await startTestServer(made.config);
  return {
    server,
    client: new Client(server.url),
    config: made.config,
    root,
    usersFile,
    async cleanup() {
      await server.close();
      await made.cleanup();
    },
  };
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export function bearer(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}` };
}

/** GET /token for `scopes`, as `user` (undefined: anonymous); fails unless 200. */
export async function getToken(client: Client, user: string | undefined, scopes: string[], password?: string): Promise<string> {
  const reply = await tokenReply(client, user, scopes, password);
  if (reply.status !== 200) throw new Error(`token: ${reply.status} ${reply.body.toString()}`);
  return reply.json.token as string;
}

export function tokenReply(client: Client, user: string | undefined, scopes: string[], password?: string, extra = ''): Promise<Reply> {
  const query = new URLSearchParams({ service: 'berth-test' });
  for (const scope of scopes) query.append('scope', scope);
  const headers: Record<string, string> = user ? { Authorization: basic(user, password ?? PASSWORDS[user]!) } : {};
  return client.get(`/token?${query}${extra}`, headers);
}

/** The server's own private signing key, from its storage. */
export async function serverKey(root: string): Promise<{ key: KeyObject; kid: string }> {
  const jwk = JSON.parse(await readFile(join(root, '_berth/auth/signing-key.jwk'), 'utf8')) as Record<string, string>;
  const key = createPrivateKey({ key: jwk, format: 'jwk' });
  const { calculateJwkThumbprint } = await import('jose');
  const { d: _d, ...pub } = jwk;
  return { key, kid: await calculateJwkThumbprint(pub as never) };
}

export interface ForgeOptions {
  key: KeyObject;
  kid?: string;
  alg?: string;
  typ?: string;
  iss?: string;
  aud?: string;
  sub?: string;
  /** Seconds from now. */
  exp?: number;
  nbf?: number;
  payload?: JWTPayload;
}

/** A token signed with whatever key and claims a test wants. */
export async function forgeToken(access: { type: string; name: string; actions: string[] }[], o: ForgeOptions): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ access, ...o.payload })
    .setProtectedHeader({ alg: o.alg ?? 'ES256', typ: o.typ ?? 'JWT', ...(o.kid ? { kid: o.kid } : {}) })
    .setIssuer(o.iss ?? 'berth-test-issuer')
    .setAudience(o.aud ?? 'berth-test')
    .setSubject(o.sub ?? 'alice')
    .setIssuedAt(now)
    .setNotBefore(now + (o.nbf ?? 0))
    .setExpirationTime(now + (o.exp ?? 300))
    .setJti(`t${Math.random()}`)
    .sign(o.key);
}

/** Every secret-looking string in the server's logs (for "never log secrets" checks). */
export function logText(server: TestServer): string {
  return server.logs.map((line) => JSON.stringify(line)).join('\n');
}

/** Pushes a blob in one POST with the given headers; returns the reply. */
export function postBlob(client: Client, name: string, data: Buffer, headers: Record<string, string> = {}): Promise<Reply> {
  return client.request('POST', `/v2/${name}/blobs/uploads/?digest=${sha256(data)}`, {
    body: data,
    headers: { 'Content-Type': 'application/octet-stream', ...headers },
  });
}

/** Pushes a config, a layer and a manifest tagged `tag` with a token; returns the manifest digest. */
export async function pushImage(client: Client, name: string, tag: string, token: string): Promise<string> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed: Math.random() }));
  const layer = Buffer.from(`layer ${Math.random()}`);
  for (const blob of [config, layer]) {
    const res = await postBlob(client, name, blob, bearer(token));
    if (res.status !== 201) throw new Error(`push blob: ${res.status} ${res.body.toString()}`);
  }
  const manifest = Buffer.from(JSON.stringify(imageManifest([sha256(config), config.length], [[sha256(layer), layer.length]])));
  const res = await client.request('PUT', `/v2/${name}/manifests/${tag}`, {
    body: manifest,
    headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', ...bearer(token) },
  });
  if (res.status !== 201) throw new Error(`push manifest: ${res.status} ${res.body.toString()}`);
  return sha256(manifest);
}
