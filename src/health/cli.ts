/**
 * `berth healthcheck [--config FILE] [--ready]`: asks the Berth this config describes, on its own
 * listen address, for /healthz (or /readyz); exit 0 when it answers 200, 1 otherwise. For a
 * container's HEALTHCHECK, where neither curl nor wget may exist. Over HTTPS the certificate is
 * not checked: the question is whether this process answers, asked over loopback.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { parseArgs } from 'node:util';
import { commandConfig } from '../cli-util.js';
import { parseListen } from '../config.js';
import { tlsEnabled } from '../tls/index.js';

const TIMEOUT_MS = 4000;

export async function runHealthcheckCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' }, ready: { type: 'boolean', default: false } }, strict: true });
  const config = commandConfig(values.config);
  const { host, port } = parseListen(config.listen);
  const local = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const https = tlsEnabled(config.tls);
  const path = values.ready ? '/readyz' : '/healthz';
  const status = await new Promise<number | string>((resolve) => {
    const options = { host: local, port, path, timeout: TIMEOUT_MS, ...(https ? { rejectUnauthorized: false } : {}) };
    const req = (https ? httpsRequest : httpRequest)(options, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', (err) => resolve(err.message));
    req.end();
  });
  if (status === 200) {
    process.stdout.write(`${path}: 200\n`);
    return;
  }
  process.stderr.write(`berth: ${path} on ${local}:${port}: ${typeof status === 'number' ? `status ${status}` : status}\n`);
  process.exitCode = 1;
}
