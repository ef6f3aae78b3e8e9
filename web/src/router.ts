/**
 * Deep links with the History API: every page has a path (`/r/team/app/t/1.0`, `/builds/ID`), a
 * click on an in-page link pushes it, back and forward re-render from the path. The server serves
 * the same page for each of these paths (src/console/static.ts).
 */
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { page: 'repositories'; q: string }
  | { page: 'repository'; name: string }
  | { page: 'image'; name: string; reference: string }
  | { page: 'builds'; repository?: string }
  | { page: 'build'; id: string }
  | { page: 'activity' }
  | { page: 'admin' }
  | { page: 'signin'; next: string }
  | { page: 'not-found' };

function decode(part: string): string | undefined {
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
}

/**
 * The route of a path. `/r/<name>/t/<tag>` and `/r/<name>/d/<digest>`: a tag or digest never holds
 * `/`, so the last two segments decide (a repository whose name ends in a `t` or `d` component
 * followed by one more is read as an image: `/r/a/t/b` is `a:b`).
 */
export function parseRoute(pathname: string, search: string): Route {
  const query = new URLSearchParams(search);
  if (pathname === '/') return { page: 'repositories', q: query.get('q') ?? '' };
  if (pathname === '/builds') return { page: 'builds', ...(query.get('repository') ? { repository: query.get('repository')! } : {}) };
  if (pathname === '/activity') return { page: 'activity' };
  if (pathname === '/admin') return { page: 'admin' };
  if (pathname === '/signin') {
    const next = query.get('next') ?? '/';
    // Only a path of this site: never `//host` or `/\host` (another origin).
    return { page: 'signin', next: /^\/(?![/\\])/.test(next) ? next : '/' };
  }
  const build = /^\/builds\/([A-Za-z0-9_-]{1,100})$/.exec(pathname);
  if (build) return { page: 'build', id: build[1]! };
  if (pathname.startsWith('/r/')) {
    const parts = pathname.slice(3).split('/').map(decode);
    if (parts.some((p) => !p)) return { page: 'not-found' };
    const segments = parts as string[];
    const marker = segments[segments.length - 2];
    if (segments.length >= 3 && (marker === 't' || marker === 'd')) {
      return { page: 'image', name: segments.slice(0, -2).join('/'), reference: segments[segments.length - 1]! };
    }
    return { page: 'repository', name: segments.join('/') };
  }
  return { page: 'not-found' };
}

export function navigate(href: string, replace = false): void {
  if (replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  window.dispatchEvent(new Event('berth:navigate'));
  window.scrollTo(0, 0);
}

/** The current route, following pushState and back/forward. */
export function useRoute(): Route {
  const read = (): Route => parseRoute(location.pathname, location.search);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const update = (): void => setRoute(read());
    window.addEventListener('popstate', update);
    window.addEventListener('berth:navigate', update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener('berth:navigate', update);
    };
  }, []);
  return route;
}

/** Turns plain clicks on same-origin links into pushState navigation (new-tab clicks stay as they are). */
export function interceptLinks(root: HTMLElement): void {
  root.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const anchor = (event.target as Element | null)?.closest('a');
    if (!anchor || anchor.target || anchor.hasAttribute('download')) return;
    const url = new URL(anchor.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith('/api/') || url.pathname.startsWith('/v2/')) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
}
