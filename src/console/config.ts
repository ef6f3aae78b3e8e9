/** The `console:` section of the config: its schema (checked by src/config.ts with every other key) and its type. */
import type { Field } from '../config-schema.js';

export interface ConsoleConfig {
  /** Serve the web console at `/` (the JSON API under /api is there either way). */
  enabled: boolean;
  /**
   * How old the index of repositories by last push may get before it is read again from storage
   * (a duration): pushes through this replica show at once, other replicas' within this time.
   */
  refresh: string;
}

export const CONSOLE_SCHEMA: Field = {
  kind: 'object',
  fields: {
    enabled: { kind: 'boolean', default: true },
    refresh: { kind: 'string', default: '30s', pattern: /^\d{1,9}(?:ms|[smh])?$/, hint: 'must be a duration like 10s, 30s or 5m' },
  },
};
