/**
 * The buildah builder, for what the native one cannot do (RUN above all): builder.ts runs
 * `buildah bud` and `buildah push` (through command.ts, which streams their output to the build
 * log and stops them on cancel) in a private folder per build, with credentials for exactly the
 * images the build may use.
 */
export { BuildahBuilder } from './builder.js';
export { CommandError } from './command.js';
