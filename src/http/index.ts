/**
 * The HTTP kit every route module shares (the registry API in src/api, the token server in
 * src/auth, the builds API and webhook in src/builds): context.ts (what a request carries),
 * request.ts (query values, lengths, small bodies), response.ts (JSON, empty, ETags), send-file.ts
 * (a file's bytes through reused buffers), pagination.ts (`n`/`last` and the `Link` header),
 * origin.ts (who asked, for the events), proxies.ts (which X-Forwarded-* headers to believe),
 * read-only.ts (the read-only gate), errors.ts (the one error table and the middleware that
 * renders every failure as OCI error JSON) and connection.ts (the same JSON for what never reaches
 * Koa: CONNECT, requests Node cannot parse).
 */
export * from './connection.js';
export * from './context.js';
export * from './errors.js';
export * from './pagination.js';
export * from './origin.js';
export * from './proxies.js';
export * from './request.js';
export * from './read-only.js';
export * from './response.js';
export * from './send-file.js';
