/**
 * Repository names and tags, checked against the distribution spec's grammar. The one place that
 * grammar lives: the registry API, the token server's scopes, build configs and Dockerfile image
 * references all ask here.
 *
 *   name       := component ( '/' component )*            at most 255 characters
 *   component  := [a-z0-9]+ ( separator [a-z0-9]+ )*
 *   separator  := '.' | '_' | '__' | '-'+
 *   hostname   := hostpart ( '.' hostpart )* ( ':' port )?  (before a name, in scopes and references)
 *   hostpart   := [A-Za-z0-9] | [A-Za-z0-9] [A-Za-z0-9-]* [A-Za-z0-9]
 *
 * Names arrive from anyone (URLs, token scopes), so the checks are written to run in time linear
 * in the input: lengths are capped first, and no regular expression here has a quantifier inside
 * another (the spec's own regex, `[a-z0-9]+(?:(?:[._]|__|-*)[a-z0-9]+)*` as distribution once
 * wrote it, backtracks exponentially on `aaaa...a-`).
 */
import { RegistryError } from './errors.js';

export const MAX_NAME_LENGTH = 255;
const MAX_HOST_LENGTH = 255;

const COMPONENT_CHARS = /^[a-z0-9._-]+$/;
const SEPARATOR_RUN = /[._-]+/g;
const SEPARATOR = /^(?:\.|_|__|-+)$/;
const HOST_PART = /^[A-Za-z0-9-]+$/;
const PORT = /^[0-9]{1,5}$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

function isAlphanumeric(code: number): boolean {
  return (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39);
}

/** One path component: lower-case letters and digits, joined by single separators. */
function isComponent(text: string): boolean {
  if (!COMPONENT_CHARS.test(text)) return false;
  if (!isAlphanumeric(text.charCodeAt(0)) || !isAlphanumeric(text.charCodeAt(text.length - 1))) return false;
  for (const run of text.match(SEPARATOR_RUN) ?? []) if (!SEPARATOR.test(run)) return false;
  return true;
}

export function isValidName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && name.split('/').every(isComponent);
}

/** A registry host as references and scopes write it: `registry.example.com`, `localhost:5000`. */
export function isValidHostname(host: string): boolean {
  if (host.length === 0 || host.length > MAX_HOST_LENGTH) return false;
  const colon = host.indexOf(':');
  const name = colon < 0 ? host : host.slice(0, colon);
  if (colon >= 0 && !PORT.test(host.slice(colon + 1))) return false;
  return name.split('.').every((part) => HOST_PART.test(part) && !part.startsWith('-') && !part.endsWith('-'));
}

/**
 * A name that may start with a registry host, as token scopes carry it
 * (`[hostname '/'] component ['/' component]*`): a first part that is a valid component counts
 * as one, so `a/b` is a plain name.
 */
export function isValidQualifiedName(text: string): boolean {
  if (text.length === 0 || text.length > MAX_HOST_LENGTH + 1 + MAX_NAME_LENGTH) return false;
  if (isValidName(text)) return true;
  const slash = text.indexOf('/');
  return slash > 0 && isValidHostname(text.slice(0, slash)) && isValidName(text.slice(slash + 1));
}

export function checkName(name: string): string {
  if (!isValidName(name)) {
    throw new RegistryError('NAME_INVALID', `invalid repository name: ${whyInvalid(name)}`, { detail: { name: name.slice(0, 300) } });
  }
  return name;
}

/** Which rule of the grammar an invalid name breaks, in words (the first one found). */
export function whyInvalid(name: string): string {
  if (name === '') return 'it is empty';
  if (name.length > MAX_NAME_LENGTH) return `longer than ${MAX_NAME_LENGTH} characters`;
  for (const component of name.split('/')) {
    if (component === '') return 'an empty path component (a leading, trailing or double "/")';
    const upper = /[A-Z]/.exec(component);
    if (upper) return `"${component}" has an uppercase letter (${upper[0]}): names are lowercase`;
    const bad = /[^a-z0-9._-]/.exec(component);
    if (bad) return `"${component}" has the character ${JSON.stringify(bad[0])}: only a-z, 0-9, ".", "_", "-" and "/" between components`;
    if (!/^[a-z0-9]/.test(component)) return `"${component}" starts with "${component[0]}": a component starts with a letter or digit`;
    if (!/[a-z0-9]$/.test(component)) return `"${component}" ends with "${component[component.length - 1]}": a component ends with a letter or digit`;
    for (const separator of component.split(/[a-z0-9]+/).filter(Boolean)) {
      if (!SEPARATOR.test(separator)) return `"${component}" has "${separator}" between letters: use one ".", one or two "_", or any number of "-"`;
    }
  }
  return 'not a valid repository name';
}

export function isValidTag(tag: string): boolean {
  return tag.length <= 128 && TAG.test(tag);
}

export function checkTag(tag: string): string {
  if (!isValidTag(tag)) {
    throw new RegistryError('TAG_INVALID', 'invalid tag: up to 128 of [A-Za-z0-9_.-], not starting with . or -', {
      detail: { tag: tag.slice(0, 200) },
    });
  }
  return tag;
}
