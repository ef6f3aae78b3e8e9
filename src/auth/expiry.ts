/** Robot token lifetimes, as `berth token create --expires` and `auth.robotTokenExpiry` give them. */
import { parseDuration } from '../util/index.js';

const TEN_YEARS = 10 * 365 * 86_400;

/** A robot token's lifetime in seconds from `30d`, `12h`, `90m`, `2w`, `1y`..., or null for `never`. */
export function parseExpiry(text: string): number | null {
  if (text === 'never') return null;
  const ms = parseDuration(text);
  if (ms === undefined || ms < 1000 || ms > TEN_YEARS * 1000) {
    throw new Error(`invalid expiry ${JSON.stringify(text)}: a duration like 30d, 12h, 90m, 2w or 1y (up to ten years), or never`);
  }
  return Math.floor(ms / 1000);
}
