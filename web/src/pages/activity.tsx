/** The audit trail: pushes, deletes and builds, newest first (admins see all; others what they may pull). */
import { useEffect, useState } from 'preact/hooks';
import { getJson, repoPath, type Session } from '../api';
import { ErrorBox, Loading, Table, useLoad } from '../components';
import { formatTime, relativeTime, shortDigest } from '../format';

interface EventRecord {
  id: string;
  timestamp: string;
  action: string;
  target: { repository?: string; tag?: string; digest?: string };
  actor: { name?: string; token?: string };
  request?: { addr?: string };
  build?: { id?: string };
}

interface EventPage {
  events: EventRecord[];
  next?: string;
}

export function ActivityPage({ session }: { session: Session }) {
  const first = useLoad((signal) => getJson<EventPage>('/api/events?n=50', signal), []);
  const [rows, setRows] = useState<EventRecord[]>([]);
  const [next, setNext] = useState<string>();
  const [error, setError] = useState<Error>();
  useEffect(() => {
    document.title = 'Activity · Berth';
  }, []);
  useEffect(() => {
    if (first.data) {
      setRows(first.data.events);
      setNext(first.data.next);
    }
  }, [first.data]);
  const more = async (): Promise<void> => {
    try {
      const page = await getJson<EventPage>(`/api/events?n=50&last=${encodeURIComponent(next ?? '')}`);
      setRows((r) => [...r, ...page.events]);
      setNext(page.next);
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <>
      <h1>Activity</h1>
      <p class="muted">{session.admin ? 'Every push, delete and build kept in the audit trail.' : 'Pushes, deletes and builds of the repositories you may pull.'}</p>
      {first.error && <ErrorBox error={first.error} />}
      {!first.data && !first.error && <Loading />}
      {first.data && rows.length === 0 && <p class="muted">Nothing recorded yet (or the audit trail is off: notifications.journal).</p>}
      {rows.length > 0 && (
        <Table label="Events">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">What</th>
              <th scope="col">Repository</th>
              <th scope="col">Digest</th>
              <th scope="col">Who</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((e) => (
              <tr key={e.id}>
                <td title={formatTime(e.timestamp)}>{relativeTime(e.timestamp)}</td>
                <td>{e.build?.id ? <a href={`/builds/${encodeURIComponent(e.build.id)}`}>{e.action}</a> : e.action}</td>
                <td>
                  {e.target.repository ? (
                    <a href={e.target.tag ? `/r/${repoPath(e.target.repository)}/t/${encodeURIComponent(e.target.tag)}` : `/r/${repoPath(e.target.repository)}`}>
                      {e.target.repository}
                      {e.target.tag ? `:${e.target.tag}` : ''}
                    </a>
                  ) : (
                    '-'
                  )}
                </td>
                <td class="mono">{e.target.digest ? shortDigest(e.target.digest) : '-'}</td>
                <td>
                  {e.actor.name ?? '-'}
                  {e.actor.token && <span class="muted"> (token {e.actor.token})</span>}
                </td>
              </tr>
            ))}
          </tbody>
        </Table>
      )}
      {error && <ErrorBox error={error} />}
      {next && (
        <button type="button" onClick={more}>
          Older events
        </button>
      )}
    </>
  );
}
