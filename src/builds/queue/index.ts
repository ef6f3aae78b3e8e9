/**
 * The build queue: builds as records in storage, shared by every replica, and the API on them.
 *
 *   build plans (webhook, or POST /api/builds: trigger.ts) -> records.ts (a record per build,
 *     paths.ts names every file) -> queue.ts (one replica claims each attempt, heartbeats,
 *     recovery of a dead replica's builds) -> pipeline.ts (source, builder choice, build, push;
 *     output to build-log.ts) -> the record's final state
 *   /api/builds (api.ts) and `berth builds` (cli.ts, a client of that API) read the records and
 *     logs; retention.ts deletes old ones.
 */
export { mountBuildsApi } from './api.js';
export { DELIVERY_ID } from './paths.js';
export { runPipeline } from './pipeline.js';
export { BuildQueue } from './queue.js';
export { type BuildPlan, type BuildRecord, RecordStore } from './records.js';
export { sweep } from './retention.js';
