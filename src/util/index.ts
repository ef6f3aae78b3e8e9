/**
 * Small generic helpers with no domain knowledge, shared by every part of the app: durations as
 * people write them, repository-name wildcards, an LRU cache and a per-key mutex.
 */
export * from './duration.js';
export * from './glob.js';
export * from './lru.js';
export * from './mutex.js';
