/**
 * Warnings at start about a deployment that works but is unsafe or about to surprise someone.
 * (The open-registry warnings of `auth.mode: none` are in server.ts.)
 */
import type { Config } from './config.js';
import { isLoopbackHost, parseListen } from './config.js';
import { tlsEnabled } from './tls/index.js';

export interface DeploymentWarning {
  message: string;
  fields?: Record<string, unknown>;
}

export function deploymentWarnings(config: Config): DeploymentWarning[] {
  const warnings: DeploymentWarning[] = [];
  const loopback = isLoopbackHost(parseListen(config.listen).host);
  if (config.auth.mode === 'token' && !tlsEnabled(config.tls) && !loopback && config.auth.realm === '') {
    warnings.push({
      message:
        'token auth over plain HTTP off loopback with no auth.realm: the token realm is built from each request (http:// unless a proxy listed in trustedProxies says https), so clients may send passwords in the clear; serve HTTPS (tls.*), or set auth.realm: https://HOST/token and list your TLS proxy in trustedProxies',
      fields: { listen: config.listen, trustedProxies: config.trustedProxies },
    });
  }
  if (config.auth.trustForwardedHeaders) {
    warnings.push({
      message:
        'auth.trustForwardedHeaders is deprecated: it believes X-Forwarded-* headers from any address, so any client can choose the token realm and its logged address; list your proxies instead (trustedProxies: [10.0.0.0/8]) and remove it',
    });
  }
  if (config.readOnly) warnings.push({ message: 'read-only mode: pulls are served, every write is refused (405 UNSUPPORTED)' });
  return warnings;
}
