/**
 * Talking to Berth: the session (who the page talks as), signing in and out, and JSON calls.
 *
 * Signing in is what `docker login` does: `POST /token` with the user's name and password, asking
 * for an API token (`scope=berth:api:*`) and a refresh token (`access_type=offline`). The API
 * token lives in this module's memory only; the refresh token in the tab's sessionStorage, so a
 * reload keeps the tab signed in and closing it forgets it. An API token about to expire is
 * renewed with the refresh token; a 401 with a token means the server no longer takes it (the
 * password changed, the user was removed): the page is then signed out.
 */

export interface Session {
  auth: 'none' | 'token';
  user: string | null;
  admin: boolean;
  readOnly: boolean;
  /** host[:port] as this page reached the registry: for pull commands. */
  registry: string;
  tokenPath: string;
  service: string;
  apiScope: string;
  builds: boolean;
  /** With `?repository=`: what the caller may do there, and its linked GitHub repository. */
  actions?: ('pull' | 'push' | 'delete')[];
  github?: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

const REFRESH_KEY = 'berth.refresh';
const CLIENT_ID = 'berth-console';
/** Renew an API token this long before it expires. */
const EARLY_MS = 30_000;

let apiToken: { value: string; expiresAt: number } | undefined;
let refreshing: Promise<void> | undefined;
const listeners = new Set<() => void>();

/** Called when the page signs in or out (the app reloads its session). */
export function onAuthChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function changed(): void {
  for (const listener of listeners) listener();
}

function storedRefresh(): string | undefined {
  try {
    return sessionStorage.getItem(REFRESH_KEY) ?? undefined;
  } catch {
    return undefined; // storage disabled: memory only
  }
}

function storeRefresh(value: string | undefined): void {
  try {
    if (value) sessionStorage.setItem(REFRESH_KEY, value);
    else sessionStorage.removeItem(REFRESH_KEY);
  } catch {
    // storage disabled: the page signs in again after a reload
  }
}

export function signedIn(): boolean {
  return apiToken !== undefined || storedRefresh() !== undefined;
}

async function errorOf(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`;
  let code: string | undefined;
  try {
    const body = (await res.json()) as { errors?: { code?: string; message?: string }[]; error_description?: string };
    const first = body.errors?.[0];
    if (first?.message) message = first.message;
    else if (body.error_description) message = body.error_description;
    code = first?.code;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(res.status, message, code);
}

async function tokenRequest(form: Record<string, string>): Promise<void> {
  const res = await fetch('/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...form, scope: 'berth:api:*', client_id: CLIENT_ID }).toString(),
    credentials: 'omit',
  });
  if (!res.ok) throw await errorOf(res);
  const body = (await res.json()) as { access_token: string; expires_in: number; refresh_token?: string };
  apiToken = { value: body.access_token, expiresAt: Date.now() + body.expires_in * 1000 };
  if (body.refresh_token) storeRefresh(body.refresh_token);
}

export async function signIn(username: string, password: string): Promise<void> {
  await tokenRequest({ grant_type: 'password', username, password, access_type: 'offline' });
  changed();
}

export function signOut(): void {
  apiToken = undefined;
  storeRefresh(undefined);
  changed();
}

/** A fresh API token, renewed with the refresh token when needed; undefined when not signed in. */
async function currentToken(): Promise<string | undefined> {
  if (apiToken && apiToken.expiresAt - EARLY_MS > Date.now()) return apiToken.value;
  const refresh = storedRefresh();
  if (!refresh) return apiToken?.value;
  refreshing ??= tokenRequest({ grant_type: 'refresh_token', refresh_token: refresh }).finally(() => {
    refreshing = undefined;
  });
  try {
    await refreshing;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 400)) {
      signOut(); // the refresh token is no longer taken: sign in again
      return undefined;
    }
    throw err;
  }
  return apiToken?.value;
}

/** fetch() with the API token; one renewal and retry when the server refuses the token. */
export async function authorizedFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const send = async (token: string | undefined): Promise<Response> => {
    const headers = new Headers(init.headers);
    if (token) headers.set('Authorization', `Bearer ${token}`);
    return fetch(path, { ...init, headers, credentials: 'omit' });
  };
  const token = await currentToken();
  let res = await send(token);
  if (res.status === 401 && token) {
    apiToken = undefined;
    const again = await currentToken();
    if (again) res = await send(again);
    if (res.status === 401) signOut();
  }
  return res;
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await authorizedFetch(path, signal ? { signal } : {});
  if (!res.ok) throw await errorOf(res);
  return (await res.json()) as T;
}

export async function sendJson<T>(method: 'POST' | 'DELETE', path: string, body?: unknown): Promise<T | undefined> {
  const res = await authorizedFetch(path, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }),
  });
  if (!res.ok) throw await errorOf(res);
  return res.status === 204 ? undefined : ((await res.json()) as T);
}

export function loadSession(repository?: string): Promise<Session> {
  return getJson<Session>(`/api/session${repository ? `?repository=${encodeURIComponent(repository)}` : ''}`);
}

/** Path segments of a repository name, each encoded (a name's `/` stays a separator). */
export function repoPath(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/');
}
