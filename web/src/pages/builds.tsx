/**
 * Builds: the list (all, or one repository's), and one build with its log live while it runs.
 * The log is one streamed response (`/api/builds/<id>/logs?follow=1`, chunked), read as it arrives:
 * no polling.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, authorizedFetch, getJson, loadSession, repoPath, sendJson } from '../api';
import { ErrorBox, Loading, Section, StateBadge, Table, useLoad } from '../components';
import { duration, formatTime, relativeTime, shortDigest } from '../format';
import { navigate } from '../router';

export interface BuildRecord {
  id: string;
  state: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  github: string;
  image: string;
  rule: string;
  ref: { type: 'branch' | 'tag'; name: string };
  sha: string;
  commitMessage: string;
  tags: string[];
  attempt: number;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  builder?: string;
  digest?: string;
  error?: string;
  trigger: { kind: 'webhook' | 'manual'; user?: string };
}

const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);
/** The log kept on the page at most (its end): a long build's log must not slow the page down. */
const MAX_LOG_CHARS = 2_000_000;

function githubUrl(repository: string, path = ''): string {
  return `https://github.com/${repository.split('/').map(encodeURIComponent).join('/')}${path}`;
}

function Commit({ build }: { build: BuildRecord }) {
  return (
    <a class="mono" href={githubUrl(build.github, `/commit/${encodeURIComponent(build.sha)}`)} title={build.commitMessage}>
      {build.sha.slice(0, 7)}
    </a>
  );
}

export function BuildList({ repository, limit = 50 }: { repository?: string; limit?: number }) {
  const [rows, setRows] = useState<BuildRecord[]>([]);
  const [next, setNext] = useState<string>();
  const path = (last?: string): string => {
    const query = new URLSearchParams({ n: String(limit) });
    if (repository) query.set('repository', repository);
    if (last) query.set('last', last);
    return `/api/builds?${query.toString()}`;
  };
  const first = useLoad((signal) => getJson<{ builds: BuildRecord[]; next?: string }>(path(), signal), [repository, limit]);
  useEffect(() => {
    if (first.data) {
      setRows(first.data.builds);
      setNext(first.data.next);
    }
  }, [first.data]);
  // While a listed build is not finished, the list is read again now and then.
  useEffect(() => {
    if (!rows.some((b) => !FINISHED.has(b.state))) return;
    const timer = setTimeout(first.reload, 3000);
    return () => clearTimeout(timer);
  }, [rows]);
  if (first.error) return <ErrorBox error={first.error} />;
  if (!first.data) return <Loading />;
  if (rows.length === 0) return <p class="muted">No builds{repository ? ' of this repository' : ''}.</p>;
  const more = async (): Promise<void> => {
    const page = await getJson<{ builds: BuildRecord[]; next?: string }>(path(next));
    setRows((r) => [...r, ...page.builds]);
    setNext(page.next);
  };
  return (
    <>
      <Table label="Builds">
        <thead>
          <tr>
            <th scope="col">Build</th>
            <th scope="col">State</th>
            <th scope="col">Image</th>
            <th scope="col">Commit</th>
            <th scope="col">Ref</th>
            <th scope="col">Tags</th>
            <th scope="col">Started</th>
            <th scope="col">Took</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((b) => (
            <tr key={b.id}>
              <td>
                <a class="mono" href={`/builds/${encodeURIComponent(b.id)}`}>
                  {b.id}
                </a>
              </td>
              <td>
                <StateBadge state={b.state} />
              </td>
              <td>
                <a href={`/r/${repoPath(b.image)}`}>{b.image}</a>
              </td>
              <td>
                <Commit build={b} />
              </td>
              <td>
                {b.ref.type} {b.ref.name}
              </td>
              <td>{b.tags.join(', ')}</td>
              <td title={formatTime(b.startedAt ?? b.createdAt)}>{relativeTime(b.startedAt ?? b.createdAt)}</td>
              <td>{duration(b.startedAt, b.finishedAt)}</td>
            </tr>
          ))}
        </tbody>
      </Table>
      {next && (
        <button type="button" onClick={more}>
          More builds
        </button>
      )}
    </>
  );
}

export function BuildsPage({ repository }: { repository?: string }) {
  useEffect(() => {
    document.title = 'Builds · Berth';
  }, []);
  return (
    <>
      <h1>Builds{repository ? ` of ${repository}` : ''}</h1>
      <BuildList repository={repository} />
    </>
  );
}

/** "Build now": the linked GitHub repository's default branch, or a branch or tag given here. */
export function TriggerBuild({ repository }: { repository: string }) {
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const branch = String(new FormData(event.currentTarget as HTMLFormElement).get('branch') ?? '').trim();
    setBusy(true);
    setError(undefined);
    try {
      const result = await sendJson<{ builds: BuildRecord[] }>('POST', '/api/builds', { repository, ...(branch ? { branch } : {}) });
      const first = result?.builds[0];
      if (first) navigate(`/builds/${encodeURIComponent(first.id)}`);
      else setError(new Error('no rule of this repository builds that ref'));
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="inline" onSubmit={submit}>
      <label>
        <span class="visually-hidden">Branch</span>
        <input name="branch" placeholder="default branch" maxLength={255} />
      </label>
      <button type="submit" class="primary" disabled={busy}>
        Build now
      </button>
      {error && <ErrorBox error={error} />}
    </form>
  );
}

/** The log, streamed while the build runs; `onEnd` when the stream closes. */
function useLogStream(id: string, onEnd: () => void): { text: string; error?: Error; live: boolean } {
  const [text, setText] = useState('');
  const [error, setError] = useState<Error>();
  const [live, setLive] = useState(true);
  useEffect(() => {
    const controller = new AbortController();
    setText('');
    setLive(true);
    (async () => {
      const res = await authorizedFetch(`/api/builds/${encodeURIComponent(id)}/logs?follow=1`, { signal: controller.signal });
      if (!res.ok || !res.body) throw new ApiError(res.status, `the log could not be read (${res.status})`);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        setText((t) => {
          const all = t + value;
          return all.length > MAX_LOG_CHARS ? all.slice(all.length - MAX_LOG_CHARS) : all;
        });
      }
    })().then(
      () => {
        setLive(false);
        onEnd();
      },
      (err: Error) => {
        if (controller.signal.aborted) return;
        setLive(false);
        setError(err);
      },
    );
    return () => controller.abort();
  }, [id]);
  return { text, error, live };
}

export function BuildPage({ id }: { id: string }) {
  const record = useLoad((signal) => getJson<BuildRecord>(`/api/builds/${encodeURIComponent(id)}`, signal), [id]);
  const build = record.data;
  const rights = useLoad(() => (build ? loadSession(build.image) : Promise.resolve(undefined)), [build?.image]);
  const log = useLogStream(id, record.reload);
  const [actionError, setActionError] = useState<Error>();
  const pre = useRef<HTMLPreElement>(null);
  const [follow, setFollow] = useState(true);

  useEffect(() => {
    document.title = `Build ${id} · Berth`;
  }, [id]);
  useEffect(() => {
    if (follow && pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [log.text, follow]);

  if (record.error) return <ErrorBox error={record.error} />;
  if (!build) return <Loading />;
  const mayPush = rights.data?.actions?.includes('push') === true && !rights.data.readOnly;
  const finished = FINISHED.has(build.state);

  const cancel = async (): Promise<void> => {
    try {
      await sendJson('POST', `/api/builds/${encodeURIComponent(id)}/cancel`);
      record.reload();
    } catch (err) {
      setActionError(err as Error);
    }
  };
  const rerun = async (): Promise<void> => {
    try {
      const result = await sendJson<{ builds: BuildRecord[] }>('POST', '/api/builds', {
        repository: build.github,
        ref: `refs/${build.ref.type === 'tag' ? 'tags' : 'heads'}/${build.ref.name}`,
        sha: build.sha,
        rule: build.rule,
      });
      const first = result?.builds[0];
      if (first) navigate(`/builds/${encodeURIComponent(first.id)}`);
    } catch (err) {
      setActionError(err as Error);
    }
  };

  return (
    <>
      <p class="crumbs">
        <a href="/builds">Builds</a> /
      </p>
      <h1 class="mono-title">
        Build {build.id} <StateBadge state={build.state} />
      </h1>
      <dl class="facts">
        <dt>Image</dt>
        <dd>
          <a href={`/r/${repoPath(build.image)}`}>{build.image}</a> : {build.tags.join(', ')}
        </dd>
        <dt>Source</dt>
        <dd>
          <a href={githubUrl(build.github)}>{build.github}</a> {build.ref.type} {build.ref.name} at <Commit build={build} />
          {build.commitMessage && <span class="muted"> — {build.commitMessage.split('\n')[0]}</span>}
        </dd>
        <dt>Rule</dt>
        <dd>{build.rule}</dd>
        <dt>Started by</dt>
        <dd>{build.trigger.kind === 'webhook' ? 'a push on GitHub' : (build.trigger.user ?? 'hand')}</dd>
        <dt>Created</dt>
        <dd>{formatTime(build.createdAt)}</dd>
        <dt>Took</dt>
        <dd>{duration(build.startedAt, build.finishedAt)}</dd>
        {build.digest && (
          <>
            <dt>Pushed</dt>
            <dd>
              <a class="mono" href={`/r/${repoPath(build.image)}/d/${encodeURIComponent(build.digest)}`}>
                {shortDigest(build.digest)}
              </a>
            </dd>
          </>
        )}
        {build.error && (
          <>
            <dt>Error</dt>
            <dd class="error-text">{build.error}</dd>
          </>
        )}
      </dl>
      {mayPush && (
        <div class="actions">
          {!finished && (
            <button type="button" onClick={cancel}>
              Cancel build
            </button>
          )}
          {finished && (
            <button type="button" class="primary" onClick={rerun}>
              Run again
            </button>
          )}
        </div>
      )}
      {actionError && <ErrorBox error={actionError} />}
      <Section
        title="Log"
        actions={
          <label class="check">
            <input type="checkbox" checked={follow} onChange={(e) => setFollow((e.currentTarget as HTMLInputElement).checked)} /> Follow
          </label>
        }
      >
        <pre ref={pre} class="log" tabIndex={0} aria-label="Build log" aria-live="off" data-state={log.live ? 'live' : 'ended'}>
          {log.text}
        </pre>
        <p class="muted" role="status">
          {log.live ? 'Live: the log grows as the build runs.' : 'The log is complete.'}
        </p>
        {log.error && <ErrorBox error={log.error} />}
      </Section>
    </>
  );
}
