/** Repository names and tags, checked against the distribution spec's grammar. */
import { RegistryError } from './errors.js';

const NAME_COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
export const MAX_NAME_LENGTH = 255;

export function isValidName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && NAME.test(name);
}

export function checkName(name: string): string {
  if (!isValidName(name)) {
    throw new RegistryError('NAME_INVALID', `invalid repository name: ${whyInvalid(name)}`, { detail: { name: name.slice(0, 300) } });
  }
  return name;
}

const SEPARATOR = /^(?:\.|_|__|-+)$/;

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
  return TAG.test(tag);
}

export function checkTag(tag: string): string {
  if (!isValidTag(tag)) {
    throw new RegistryError('TAG_INVALID', 'invalid tag: up to 128 of [A-Za-z0-9_.-], not starting with . or -', {
      detail: { tag: tag.slice(0, 200) },
    });
  }
  return tag;
}
