/**
 * Admin over HTTP, for the console's admin page and scripts: a gc dry run (gc-preview.ts) and
 * robot tokens (api.ts, on the auth module's token store). Who is an admin is auth's word
 * (`Permissions.admin()`: `auth.admins`); storage per repository and every event are served by
 * their own modules (src/repositories, src/events), which widen what admins see.
 */
export { createAdminRouter, requireAdmin } from './api.js';
export { type EvictionPreview, GcPreviewer } from './gc-preview.js';
