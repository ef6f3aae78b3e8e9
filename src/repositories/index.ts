/**
 * What is stored, for people: the registry layer's inventory (src/registry/inventory.ts: tags
 * with details, repository sizes, storage use) served as JSON under /api (api.ts) and printed by
 * `berth repos|tags|rm|du` (cli.ts), which read either the storage itself or a running server.
 */
export { createRepositoriesRouter } from './api.js';
