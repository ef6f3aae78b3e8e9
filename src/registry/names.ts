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
    const why = name.length > MAX_NAME_LENGTH ? `longer than ${MAX_NAME_LENGTH} characters` : 'not a valid repository name';
    throw new RegistryError('NAME_INVALID', `invalid repository name: ${why}`, { detail: { name: name.slice(0, 300) } });
  }
  return name;
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
