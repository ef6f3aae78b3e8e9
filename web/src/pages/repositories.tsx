/** The front page: repositories the caller may pull, newest push first, with a search box. */
import { useEffect, useState } from 'preact/hooks';
import { repoPath, type Session } from '../api';
import { ErrorBox, Loading, Table, usePages } from '../components';
import { formatBytes, formatTime, relativeTime } from '../format';
import { navigate } from '../router';

interface Summary {
  name: string;
  tags: number;
  size: number;
  lastPush?: string;
}

interface ListPage {
  repositories: Summary[];
  next?: string;
}

const PAGE = 50;

function pagePath(q: string, last?: string): string {
  const query = new URLSearchParams({ sort: 'pushed', n: String(PAGE) });
  if (q) query.set('q', q);
  if (last) query.set('last', last);
  return `/api/repositories?${query.toString()}`;
}

export function RepositoriesPage({ q, session }: { q: string; session: Session }) {
  const [text, setText] = useState(q);
  const { rows, next, error, loading, more } = usePages((last) => pagePath(q, last), (page: ListPage) => page.repositories, [q]);

  useEffect(() => {
    document.title = 'Repositories · Berth';
  }, []);

  // The query goes into the URL (a deep link), a moment after typing stops.
  useEffect(() => {
    if (text === q) return;
    const timer = setTimeout(() => navigate(text ? `/?q=${encodeURIComponent(text)}` : '/', true), 250);
    return () => clearTimeout(timer);
  }, [text]);

  return (
    <>
      <h1>Repositories</h1>
      <form class="search" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          <span class="visually-hidden">Search repositories</span>
          <input type="search" placeholder="Search repositories" value={text} onInput={(e) => setText((e.currentTarget as HTMLInputElement).value)} maxLength={255} />
        </label>
      </form>
      {error && <ErrorBox error={error} />}
      {loading && rows.length === 0 ? (
        <Loading />
      ) : rows.length === 0 ? (
        <p class="muted">
          {q ? 'No repository matches.' : 'No repositories yet.'}
          {session.auth === 'token' && !session.user && ' Signed-in users may see more.'}
        </p>
      ) : (
        <Table label="Repositories">
          <thead>
            <tr>
              <th scope="col">Repository</th>
              <th scope="col" class="num">
                Tags
              </th>
              <th scope="col" class="num">
                Size
              </th>
              <th scope="col">Last push</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.name}>
                <td>
                  <a href={`/r/${repoPath(r.name)}`}>{r.name}</a>
                </td>
                <td class="num">{r.tags}</td>
                <td class="num">{formatBytes(r.size)}</td>
                <td title={formatTime(r.lastPush)}>{relativeTime(r.lastPush)}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      )}
      {next && (
        <button type="button" onClick={more}>
          More repositories
        </button>
      )}
    </>
  );
}
