/**
 * Reading the Authorization header without trusting it: anything oversized or malformed is
 * `invalid` (a clean 401), never an exception deeper in.
 */

export type Credentials =
  | { kind: 'none' }
  | { kind: 'bearer'; token: string }
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'invalid'; reason: string };

/** Longest Authorization header looked at (Node itself refuses headers past 16 KiB with 431). */
export const MAX_AUTHORIZATION_LENGTH = 8300;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export function parseAuthorization(header: string | undefined): Credentials {
  if (header === undefined || header === '') return { kind: 'none' };
  if (header.length > MAX_AUTHORIZATION_LENGTH) return { kind: 'invalid', reason: 'authorization header too long' };
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const value = space < 0 ? '' : header.slice(space + 1).trim();
  if (scheme === 'bearer') {
    if (value === '') return { kind: 'invalid', reason: 'empty bearer token' };
    return { kind: 'bearer', token: value };
  }
  if (scheme === 'basic') {
    if (!BASE64.test(value) || value.length % 4 !== 0) return { kind: 'invalid', reason: 'malformed basic credentials' };
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) return { kind: 'invalid', reason: 'malformed basic credentials' };
    return { kind: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return { kind: 'invalid', reason: 'unsupported authorization scheme' };
}
