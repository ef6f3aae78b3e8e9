/**
 * The token scope grammar of distribution's docs/spec/auth/scope.md:
 *
 *   scope         := resourcescope [ ' ' resourcescope ]*
 *   resourcescope := resourcetype ":" resourcename ":" action [ ',' action ]*
 *   resourcetype  := /[a-z0-9]+/ [ '(' /[a-z0-9]+/ ')' ]       (the class is deprecated, ignored)
 *   resourcename  := [ hostname '/' ] component [ '/' component ]*
 *   hostname      := hostcomponent [ '.' hostcomponent ]* [ ':' port ]
 *   action        := zero or more of [a-z*]
 *
 * A name may hold one `:` (a port), so a scope splits at its first `:` (type) and its last `:`
 * (actions), never naively into three. Anything that does not match exactly is refused: crafted
 * strings must not turn into grants for other names. Names are checked by the registry's own
 * grammar (src/registry/names.ts), in linear time: scopes arrive before any credentials.
 */
import { isValidQualifiedName } from '../registry/names.js';

/** What the token endpoint is asked for to get an API token instead of a registry token. */
export const API_SCOPE = 'berth:api:*';

export interface ResourceScope {
  /** `repository`, `registry`, ...; a resource class (`repository(plugin)`) is dropped. */
  type: string;
  name: string;
  /** Requested actions, deduplicated, in request order; empty actions are dropped. */
  actions: string[];
}

export class ScopeError extends Error {}

/** Most scopes one token request may ask for, and the longest one. */
export const MAX_SCOPES = 64;
const MAX_SCOPE_LENGTH = 600;

const TYPE = /^([a-z0-9]+)(?:\(([a-z0-9]+)\))?$/;
const ACTION = /^[a-z*]*$/;

/** Parses one resource scope; throws ScopeError when it does not follow the grammar. */
export function parseScope(text: string): ResourceScope {
  if (text.length > MAX_SCOPE_LENGTH) throw new ScopeError('scope too long');
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (first <= 0 || last === first) throw new ScopeError(`invalid scope ${JSON.stringify(text)}: want type:name:actions`);
  const type = TYPE.exec(text.slice(0, first));
  if (!type) throw new ScopeError(`invalid scope ${JSON.stringify(text)}: bad resource type`);
  const name = text.slice(first + 1, last);
  if (!isValidQualifiedName(name)) throw new ScopeError(`invalid scope ${JSON.stringify(text)}: bad resource name`);
  const actions: string[] = [];
  for (const action of text.slice(last + 1).split(',')) {
    if (!ACTION.test(action)) throw new ScopeError(`invalid scope ${JSON.stringify(text)}: bad action`);
    if (action !== '' && !actions.includes(action)) actions.push(action);
  }
  return { type: type[1]!, name, actions };
}

/**
 * Every scope of a request: GET repeats `scope=`, POST puts a space-separated list in one value
 * (and some clients do that on GET too). Scopes of one resource are merged.
 */
export function parseScopes(values: readonly string[]): ResourceScope[] {
  const merged = new Map<string, ResourceScope>();
  let count = 0;
  for (const value of values) {
    for (const part of value.split(' ')) {
      if (part === '') continue;
      if (++count > MAX_SCOPES) throw new ScopeError(`too many scopes (at most ${MAX_SCOPES})`);
      const scope = parseScope(part);
      const key = `${scope.type}:${scope.name}`;
      const seen = merged.get(key);
      if (seen) {
        for (const action of scope.actions) if (!seen.actions.includes(action)) seen.actions.push(action);
      } else {
        merged.set(key, scope);
      }
    }
  }
  return [...merged.values()];
}

export function formatScope(scope: ResourceScope): string {
  return `${scope.type}:${scope.name}:${scope.actions.join(',')}`;
}

/** The OAuth2 `scope` response field: one entry per granted action, space-separated. */
export function formatGranted(scopes: readonly ResourceScope[]): string {
  return scopes
    .filter((s) => s.actions.length > 0)
    .map(formatScope)
    .join(' ');
}
