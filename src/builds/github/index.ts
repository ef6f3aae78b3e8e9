/**
 * The GitHub side of automated builds: what starts a build and where its source comes from.
 *
 *   POST /webhooks/github -> webhook.ts (raw body, HMAC against every secret: signature.ts)
 *     -> plans.ts (the linked repository's rules: rules.ts) -> build plans for the queue
 *   a queued build -> source.ts (tarball from the API: client.ts) -> extract.ts (unpacked with
 *     checks into the build's folder) -> the build context and Dockerfile
 *   every state change -> status.ts -> a commit status on GitHub
 */
export { GitHubApi, GitHubError } from './client.js';
export { planBuilds } from './plans.js';
export { MAX_REF_NAME, parseRef, type SourceRef } from './rules.js';
export { fetchSource, resolveBuildInput, SourceError } from './source.js';
export { StatusReporter } from './status.js';
export { webhookHandler } from './webhook.js';
