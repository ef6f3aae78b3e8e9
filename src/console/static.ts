/**
 * The console's files (built by Vite into dist/console: index.html and hashed assets), read once
 * at start and served with the headers a page needs:
 * - assets (`/assets/<name>-<hash>.<ext>`): `Cache-Control: public, max-age=31536000, immutable`,
 *   since a new build gives new names; only names that were in the folder at start are served
 *   (a lookup in a map, never a path built from the request);
 * - the page (every deep link: `/`, `/r/...`, `/builds/...`): index.html with `no-cache` (asked
 *   again each time, 304 while unchanged), and a Content-Security-Policy that allows scripts,
 *   styles and connections from this origin only: no inline script or style, no other host.
 */
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HttpContext } from '../http/index.js';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
};

const ASSET_NAME = /^[A-Za-z0-9._-]{1,200}$/;

interface Asset {
  path: string;
  size: number;
  type: string;
}

export interface ConsoleFiles {
  /** The page, or undefined when the console was not built. */
  index?: { html: Buffer; etag: string };
  assets: Map<string, Asset>;
  /** Where they were looked for (for the "not built" answer and the log). */
  dir: string;
}

/** dist/console beside the compiled server (dist/src/console), or from the sources (src/console, in tests). */
function consoleDir(): string {
  const candidates = [fileURLToPath(new URL('../../console/', import.meta.url)), fileURLToPath(new URL('../../dist/console/', import.meta.url))];
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? candidates[0]!;
}

export function loadConsoleFiles(dir = consoleDir()): ConsoleFiles {
  const assets = new Map<string, Asset>();
  if (!existsSync(join(dir, 'index.html'))) return { assets, dir };
  const html = readFileSync(join(dir, 'index.html'));
  const assetDir = join(dir, 'assets');
  if (existsSync(assetDir)) {
    for (const name of readdirSync(assetDir)) {
      const type = TYPES[extname(name)];
      const path = join(assetDir, name);
      if (!ASSET_NAME.test(name) || !type || !statSync(path).isFile()) continue;
      assets.set(name, { path, size: statSync(path).size, type });
    }
  }
  return { index: { html, etag: `"${createHash('sha256').update(html).digest('base64url').slice(0, 27)}"` }, assets, dir };
}

function securityHeaders(ctx: HttpContext): void {
  ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Referrer-Policy', 'same-origin');
  ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
}

export function servePage(ctx: HttpContext, files: ConsoleFiles): void {
  securityHeaders(ctx);
  if (!files.index) {
    ctx.status = 503;
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = `The console is not built (no ${join(files.dir, 'index.html')}): run npm run build.\n`;
    return;
  }
  ctx.set('Cache-Control', 'no-cache');
  ctx.set('ETag', files.index.etag);
  ctx.type = 'text/html; charset=utf-8';
  ctx.status = 200; // ctx.fresh looks at 2xx answers only
  if (ctx.fresh) {
    ctx.status = 304;
    return;
  }
  ctx.body = files.index.html;
}

/** Serves `/assets/<name>`; false when there is no such asset (the caller answers 404). */
export function serveAsset(ctx: HttpContext, files: ConsoleFiles, name: string): boolean {
  const asset = files.assets.get(name);
  if (!asset) return false;
  securityHeaders(ctx);
  ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
  ctx.status = 200;
  if (ctx.method !== 'HEAD') ctx.body = createReadStream(asset.path); // HEAD: no stream to open and leave
  ctx.type = asset.type;
  ctx.length = asset.size;
  return true;
}
