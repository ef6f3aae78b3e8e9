/**
 * GitHub's webhook signature: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.
 * The header is read first (a delivery without a well-formed one is refused before its body is
 * read); the HMACs are then computed while the body streams, one per configured secret. Every
 * secret is tried, always all of them, each compared in constant time, so the time taken says
 * nothing about which secret (if any) was close.
 */
import { createHmac, type Hmac, timingSafeEqual } from 'node:crypto';

const HEADER = /^sha256=([0-9a-fA-F]{64})$/;

export function signBody(secret: string, body: Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** The signature the header carries, or undefined when it is missing or malformed. */
export function parseSignatureHeader(header: string | undefined): Buffer | undefined {
  const m = HEADER.exec(header?.trim() ?? '');
  return m ? Buffer.from(m[1]!, 'hex') : undefined;
}

/** The HMACs of a body as it streams, against every configured secret. */
export class SignatureCheck {
  private readonly hmacs: [string, Hmac][];

  constructor(
    private readonly given: Buffer,
    secrets: readonly string[],
  ) {
    this.hmacs = [...new Set(secrets)].map((secret) => [secret, createHmac('sha256', secret)]);
  }

  update(chunk: Buffer): void {
    for (const [, hmac] of this.hmacs) hmac.update(chunk);
  }

  /** The secrets whose HMAC of the whole body equals the header's (call once, at the end). */
  matching(): Set<string> {
    const matched = new Set<string>();
    for (const [secret, hmac] of this.hmacs) if (timingSafeEqual(hmac.digest(), this.given)) matched.add(secret);
    return matched;
  }
}

/** The secrets whose HMAC of `body` equals the header's; none when the header is malformed. */
export function matchingSecrets(header: string | undefined, body: Uint8Array, secrets: readonly string[]): Set<string> {
  const given = parseSignatureHeader(header);
  if (!given) return new Set();
  const check = new SignatureCheck(given, secrets);
  check.update(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  return check.matching();
}
