/**
 * GitHub's webhook signature: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.
 * Every configured secret is tried, always all of them, each compared in constant time, so the
 * time taken says nothing about which secret (if any) was close.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export function signBody(secret: string, body: Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** The secrets (from `secrets`) whose HMAC of `body` equals the header's; none when it is malformed. */
export function matchingSecrets(header: string | undefined, body: Uint8Array, secrets: readonly string[]): Set<string> {
  const matched = new Set<string>();
  const m = /^sha256=([0-9a-fA-F]{64})$/.exec(header?.trim() ?? '');
  if (!m) return matched;
  const given = Buffer.from(m[1]!, 'hex');
  for (const secret of new Set(secrets)) {
    const expected = createHmac('sha256', secret).update(body).digest();
    if (timingSafeEqual(expected, given)) matched.add(secret);
  }
  return matched;
}
