/**
 * A small client for the GitHub REST API (or GitHub Enterprise's, at `builds.github.api`).
 * Redirects are followed by hand so that the token goes only to the API's own origin: GitHub
 * sends tarball downloads to codeload with a signed URL that needs no token.
 */
const MAX_REDIRECTS = 5;
const API_VERSION = '2022-11-28';

export class GitHubError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'GitHubError';
  }
}

export interface GitHubRequest {
  method?: 'GET' | 'POST';
  body?: unknown;
  signal?: AbortSignal;
  accept?: string;
}

export class GitHubApi {
  private readonly base: URL;

  constructor(
    api: string,
    private readonly token: string,
  ) {
    this.base = new URL(api.endsWith('/') ? api : `${api}/`);
  }

  /** `{api}/repos/{owner}/{repo}...` for a path like `repos/acme/hello/tarball/SHA`. */
  url(path: string): URL {
    return new URL(path.replace(/^\//, ''), this.base);
  }

  /** Sends a request, follows redirects, and fails with GitHubError on a non-2xx answer. */
  async request(path: string, options: GitHubRequest = {}): Promise<Response> {
    let url = this.url(path);
    let method = options.method ?? 'GET';
    let body = options.body === undefined ? undefined : JSON.stringify(options.body);
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = {
        Accept: options.accept ?? 'application/vnd.github+json',
        'User-Agent': 'berth',
        'X-GitHub-Api-Version': API_VERSION,
      };
      if (this.token && url.origin === this.base.origin) headers.Authorization = `Bearer ${this.token}`;
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      const res = await fetch(url, { method, headers, body, redirect: 'manual', signal: options.signal });
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        await res.body?.cancel();
        if (hop >= MAX_REDIRECTS) throw new GitHubError(res.status, `too many redirects from ${this.describe(path)}`);
        url = new URL(location, url);
        if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
          method = 'GET';
          body = undefined;
        }
        continue;
      }
      if (!res.ok) {
        const text = await res.text().catch(() => '');
        let message = text.slice(0, 200);
        try {
          message = (JSON.parse(text) as { message?: string }).message ?? message;
        } catch {
          // not JSON: keep the text
        }
        throw new GitHubError(res.status, `GitHub answered ${res.status} to ${method} ${this.describe(path)}${message ? `: ${message}` : ''}`);
      }
      return res;
    }
  }

  async json<T>(path: string, options: GitHubRequest = {}): Promise<T> {
    const res = await this.request(path, options);
    return (await res.json()) as T;
  }

  /** The path without query (signed URLs carry tokens). */
  private describe(path: string): string {
    return path.split('?')[0]!;
  }
}
