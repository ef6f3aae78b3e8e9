/**
 * Keys: Berth's own signing key (from `auth.signingKeyFile`, else generated once and kept in
 * storage at `/_berth/auth/signing-key.jwk` so that every replica signs and verifies with the
 * same key), and the public keys of an optional external token server (a JWKS file or PEM
 * certificates).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Logger } from 'pino';
import { type StorageDriver, PathNotFoundError } from '../../storage-drivers/driver.js';
import type { AuthConfig, SigningAlgorithm } from './config.js';

export const SIGNING_KEY_PATH = '/_berth/auth/signing-key.jwk';

/**
 * Asymmetric algorithms only: `none` and the HMAC family never verify anything here, so a token
 * "signed" with the public key as an HMAC secret (alg confusion) is refused by name.
 */
export const ALLOWED_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'] as const;

export interface SigningKey {
  alg: SigningAlgorithm;
  kid: string;
  privateKey: KeyObject;
  /** The public half as published in the JWKS (kid, alg, use). */
  publicJwk: JWK;
}

export interface VerificationKey {
  /** Key ids this key answers to (a JWK's kid, RFC 7638 thumbprint, Docker's libtrust id). */
  kids: string[];
  key: KeyObject;
  /** The algorithms this key may verify (by its type, or the JWK's `alg`). */
  algorithms: string[];
}

/** The algorithms a public key can verify, by its type. */
export function algorithmsFor(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') return ['ES256'];
      if (curve === 'secp384r1') return ['ES384'];
      if (curve === 'secp521r1') return ['ES512'];
      return [];
    }
    case 'rsa':
      return (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048 ? ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] : [];
    case 'rsa-pss':
      return (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048 ? ['PS256', 'PS384', 'PS512'] : [];
    case 'ed25519':
      return ['EdDSA'];
    default:
      return [];
  }
}

/**
 * Docker's libtrust key id (what docker_auth and Distribution's token servers put in `kid`): the
 * SHA-256 of the DER public key, first 240 bits, base32, in twelve groups of four.
 */
export function libtrustKeyId(key: KeyObject): string {
  const digest = createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return out.match(/.{4}/g)!.join(':');
}

async function thumbprint(key: KeyObject): Promise<string> {
  return calculateJwkThumbprint(key.export({ format: 'jwk' }) as JWK, 'sha256');
}

function checkSigningKey(key: KeyObject, alg: SigningAlgorithm, where: string): void {
  if (key.type !== 'private') throw new Error(`${where}: not a private key`);
  if (!algorithmsFor(createPublicKey(key)).includes(alg)) {
    const want = alg === 'ES256' ? 'an EC P-256 key' : 'an RSA key of at least 2048 bits';
    throw new Error(`${where}: auth.signingAlgorithm ${alg} needs ${want}`);
  }
}

/** Reads a private key file: a JWK (JSON) or PEM (PKCS#8, SEC1 or PKCS#1). */
async function readKeyFile(path: string): Promise<KeyObject> {
  const text = await readFile(path, 'utf8');
  try {
    if (text.trimStart().startsWith('{')) return createPrivateKey({ key: JSON.parse(text) as JsonWebKey, format: 'jwk' });
    return createPrivateKey(text);
  } catch (err) {
    throw new Error(`auth.signingKeyFile ${path}: not a private key in PEM or JWK form (${(err as Error).message})`);
  }
}

function generate(alg: SigningAlgorithm): KeyObject {
  return alg === 'ES256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
    : generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey;
}

/** The stored key, generated on the first start. Two replicas starting at once agree on one. */
async function storedKey(driver: StorageDriver, alg: SigningAlgorithm, log: Logger): Promise<KeyObject> {
  const read = async (): Promise<KeyObject | undefined> => {
    try {
      const jwk = JSON.parse((await driver.getContent(SIGNING_KEY_PATH)).toString('utf8')) as JsonWebKey & { alg?: string };
      if (jwk.alg && jwk.alg !== alg) {
        throw new Error(
          `the signing key in storage (${SIGNING_KEY_PATH}) is ${jwk.alg} but auth.signingAlgorithm is ${alg}: set it back, ` +
            'or delete that file to make a new key (tokens signed with the old key stop working)',
        );
      }
      return createPrivateKey({ key: jwk, format: 'jwk' });
    } catch (err) {
      if (err instanceof PathNotFoundError) return undefined;
      throw err;
    }
  };
  const existing = await read();
  if (existing) return existing;
  const key = generate(alg);
  const jwk = { ...(key.export({ format: 'jwk' }) as JsonWebKey), alg };
  if (await driver.putContentIfAbsent(SIGNING_KEY_PATH, Buffer.from(JSON.stringify(jwk)))) {
    log.info({ path: SIGNING_KEY_PATH, alg }, 'generated the token signing key');
    return key;
  }
  // Another replica wrote its key first: use that one.
  const theirs = await read();
  if (!theirs) throw new Error(`${SIGNING_KEY_PATH}: claimed but unreadable`);
  return theirs;
}

export async function loadSigningKey(config: AuthConfig, driver: StorageDriver, log: Logger): Promise<SigningKey> {
  const alg = config.signingAlgorithm;
  const privateKey = config.signingKeyFile ? await readKeyFile(config.signingKeyFile) : await storedKey(driver, alg, log);
  checkSigningKey(privateKey, alg, config.signingKeyFile ? `auth.signingKeyFile ${config.signingKeyFile}` : SIGNING_KEY_PATH);
  const publicKey = createPublicKey(privateKey);
  const kid = await thumbprint(publicKey);
  const publicJwk: JWK = { ...(publicKey.export({ format: 'jwk' }) as JWK), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicJwk };
}

/** The verification key of our own signing key. */
export function ownVerificationKey(signing: SigningKey): VerificationKey {
  return { kids: [signing.kid], key: createPublicKey(signing.privateKey), algorithms: [signing.alg] };
}

async function keyFromJwk(jwk: JWK, file: string): Promise<VerificationKey> {
  if (jwk.kty === 'oct') throw new Error(`${file}: symmetric (oct) keys are not accepted`);
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = jwk; // a JWKS should hold public halves only
  const key = createPublicKey({ key: pub as JsonWebKey, format: 'jwk' });
  let algorithms = algorithmsFor(key);
  if (jwk.alg) algorithms = algorithms.filter((a) => a === jwk.alg);
  if (algorithms.length === 0) throw new Error(`${file}: key ${jwk.kid ?? '(no kid)'} has no usable signature algorithm`);
  const kids = [await thumbprint(key), libtrustKeyId(key)];
  if (jwk.kid) kids.unshift(jwk.kid);
  return { kids, key, algorithms };
}

/** The external issuer's public keys from its JWKS file and/or PEM certificate bundle. */
export async function loadExternalKeys(config: AuthConfig, log: Logger): Promise<VerificationKey[]> {
  const { jwksFile, certificateFile } = config.external;
  const keys: VerificationKey[] = [];
  if (jwksFile) {
    let jwks: { keys?: JWK[] };
    try {
      jwks = JSON.parse(await readFile(jwksFile, 'utf8')) as { keys?: JWK[] };
    } catch (err) {
      throw new Error(`auth.external.jwksFile ${jwksFile}: ${(err as Error).message}`);
    }
    if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) throw new Error(`auth.external.jwksFile ${jwksFile}: no "keys"`);
    for (const jwk of jwks.keys) keys.push(await keyFromJwk(jwk, `auth.external.jwksFile ${jwksFile}`));
  }
  if (certificateFile) {
    const text = await readFile(certificateFile, 'utf8');
    const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length === 0) throw new Error(`auth.external.certificateFile ${certificateFile}: no PEM certificate`);
    for (const pem of blocks) {
      const cert = new X509Certificate(pem);
      if (Date.parse(cert.validTo) < Date.now()) log.warn({ file: certificateFile, subject: cert.subject, validTo: cert.validTo }, 'external issuer certificate has expired');
      const key = cert.publicKey;
      const algorithms = algorithmsFor(key);
      if (algorithms.length === 0) throw new Error(`auth.external.certificateFile ${certificateFile}: unsupported key in certificate ${cert.subject}`);
      keys.push({ kids: [libtrustKeyId(key), await thumbprint(key)], key, algorithms });
    }
  }
  return keys;
}
