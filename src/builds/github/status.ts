/**
 * Commit statuses on GitHub (`POST {api}/repos/{owner}/{repo}/statuses/{sha}`): `pending` when a
 * build is queued, then `success`, `failure` (the source or Dockerfile failed) or `error` (Berth,
 * GitHub or a timeout did; or cancelled), with `context: berth/<rule>` and a link to the build's
 * page in the console (its plain-text log when the console is off). Only when a token is configured; a status that cannot be sent is logged and never fails
 * the build. Statuses of one build go out in order.
 */
import type { Logger } from 'pino';
import type { GitHubApi } from './client.js';
import type { BuildRecord } from '../queue/index.js';

export type CommitState = 'pending' | 'success' | 'failure' | 'error';

export interface StatusOptions {
  /** The client for a linked repository, or undefined when it has no token. */
  github: (repository: string) => GitHubApi | undefined;
  /** Where the status links to for a build: its console page (or its log). */
  buildUrl: (id: string) => string;
  log: Logger;
}

/** The status for a record's state; undefined for states GitHub is not told of. */
export function commitStatus(record: BuildRecord): { state: CommitState; description: string } | undefined {
  const tags = `${record.image}:${record.tags.join(',')}`;
  switch (record.state) {
    case 'queued':
      return { state: 'pending', description: record.attempt > 1 ? `Queued again (attempt ${record.attempt})` : `Queued: ${tags}` };
    case 'running':
      return undefined;
    case 'succeeded':
      return { state: 'success', description: `Pushed ${tags}` };
    case 'cancelled':
      return { state: 'error', description: record.error ? capitalize(record.error) : 'Cancelled' };
    case 'failed':
      return { state: record.failure === 'build' ? 'failure' : 'error', description: `Failed: ${record.error ?? 'unknown error'}` };
  }
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** GitHub takes at most 140 characters. */
function shorten(text: string): string {
  return text.length <= 140 ? text : `${text.slice(0, 139)}…`;
}

export class StatusReporter {
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly options: StatusOptions) {}

  /** Sends the record's status in the background. */
  report(record: BuildRecord): void {
    const status = commitStatus(record);
    const github = this.options.github(record.github);
    if (!status || !github) return;
    const body = {
      state: status.state,
      target_url: this.options.buildUrl(record.id),
      description: shorten(status.description),
      context: `berth/${record.rule}`,
    };
    const previous = this.chains.get(record.id) ?? Promise.resolve();
    const next = previous
      .then(() => github.request(`repos/${record.github}/statuses/${record.sha}`, { method: 'POST', body, signal: AbortSignal.timeout(15_000) }))
      .then((res) => res.body?.cancel())
      .catch((err: unknown) => this.options.log.warn({ build: record.id, state: status.state, err: { message: (err as Error).message } }, 'could not send the commit status to GitHub'));
    this.chains.set(record.id, next);
    void next.finally(() => {
      if (this.chains.get(record.id) === next) this.chains.delete(record.id);
    });
  }

  /** Waits until every status sent so far is through (shutdown, tests). */
  async settled(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }
}
