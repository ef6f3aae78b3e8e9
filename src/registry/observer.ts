/**
 * What the registry tells about the changes it makes, and who asked for them. The caller (an HTTP
 * handler, a command, the native builder) describes itself in a ChangeOrigin; the registry never
 * reads it, only hands it on with the change to its observer (src/events records both). Nothing
 * here knows HTTP.
 */

export interface ChangeOrigin {
  /** Who: a user name, `anonymous`, `cli`, `gc`; a robot token by its id (never its secret). */
  actor: { name?: string; token?: string };
  /** The HTTP request that asked, when one did. */
  request?: { id: string; addr: string; host: string; method: string; useragent: string };
  /** The registry's base URL as that caller reached it (`http://host:port`), for links to content. */
  baseUrl?: string;
}

export type RegistryChange =
  /** Stored and linked; `tags` now point at it (none when pushed by digest alone). */
  | { kind: 'manifest-pushed'; repository: string; digest: string; mediaType: string; size: number; tags: string[] }
  /** Its revision link is gone, and with it `tags`, the tags that named it. */
  | { kind: 'manifest-deleted'; repository: string; digest: string; mediaType?: string; size?: number; tags: string[] }
  /** `digest`: what the tag pointed at, when that could be read. */
  | { kind: 'tag-deleted'; repository: string; tag: string; digest?: string }
  | { kind: 'blob-deleted'; repository: string; digest: string };

/**
 * Told of every change once it is in storage and before the caller hears of it; when it fails,
 * the call fails (the change stays: repeating the call is safe and is told again).
 */
export type ChangeObserver = (change: RegistryChange, origin: ChangeOrigin | undefined) => Promise<void>;
