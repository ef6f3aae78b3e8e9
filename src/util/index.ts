/**
 * Small generic helpers with no domain knowledge, shared by every part of the app: durations as
 * people write them, repository-name wildcards, an LRU cache, a per-key mutex, where a worker
 * thread's compiled module is, and listening on an address as a promise.
 */
export * from './compiled.js';
export * from './duration.js';
export * from './glob.js';
export * from './lru.js';
export * from './mutex.js';
export * from './listen.js';
