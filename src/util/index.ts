/**
 * Small generic helpers with no domain knowledge, shared by every part of the app: byte counts
 * and durations as people write them, repository-name wildcards, an LRU cache, a per-key mutex,
 * one task per key at a time (single flight), where a worker thread's compiled module is, and
 * listening on an address as a promise.
 */
export * from './bytes.js';
export * from './compiled.js';
export * from './duration.js';
export * from './glob.js';
export * from './lru.js';
export * from './mutex.js';
export * from './single-flight.js';
export * from './listen.js';
