/** Admin: storage per repository (a chart), a gc dry run, robot tokens (create, shown once; revoke). */
import { useEffect, useState } from 'preact/hooks';
import { getJson, repoPath, sendJson, type Session } from '../api';
import { BarChart, CopyField, ErrorBox, Loading, Section, Table, useLoad } from '../components';
import { formatBytes, formatTime } from '../format';

interface Usage {
  repositories: { name: string; size: number; exclusive: number }[];
  referenced: number;
}

interface GcPreview {
  report: {
    repositories: number;
    manifests: number;
    manifestsDeleted: number;
    blobsKept: number;
    blobsDeleted: number;
    bytesFreed: number;
    linksDeleted: number;
    uploadsDeleted: number;
    heldBack: { manifests: number; links: number; blobs: number; bytes: number };
  };
  evictions: { items: { repository: string; digest: string }[]; count: number };
  items: { kind: string; repository?: string; digest?: string; upload?: string; bytes?: number }[];
  more: number;
  settings: { grace: string; uploadTtl: string; deleteUntagged: boolean };
  finishedAt: string;
}

interface RobotToken {
  id: string;
  user: string;
  scopes: string[];
  created: string;
  expires: string | null;
  description?: string;
  state: 'active' | 'expired';
  secret?: string;
}

const TOP = 20;

function StorageChart() {
  const usage = useLoad((signal) => getJson<Usage>('/api/usage', signal), []);
  if (usage.error) return <ErrorBox error={usage.error} />;
  if (!usage.data) return <Loading />;
  const sorted = [...usage.data.repositories].sort((a, b) => b.size - a.size);
  return (
    <>
      <p>
        {sorted.length} repositories reference {formatBytes(usage.data.referenced)} in all (layers shared between repositories counted once). The darker part of
        each bar is only in that repository: what deleting it would free.
      </p>
      {sorted.length > 0 && (
        <BarChart
          caption={sorted.length > TOP ? `The ${TOP} largest repositories` : 'Storage per repository'}
          bars={sorted.slice(0, TOP).map((r) => ({
            key: r.name,
            label: <a href={`/r/${repoPath(r.name)}`}>{r.name}</a>,
            value: r.size,
            part: r.exclusive,
            title: `${formatBytes(r.size)}, of which ${formatBytes(r.exclusive)} only here`,
          }))}
        />
      )}
    </>
  );
}

function GcDryRun({ session }: { session: Session }) {
  const [result, setResult] = useState<GcPreview>();
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const run = async (): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      setResult(await getJson<GcPreview>('/api/admin/gc'));
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  const r = result?.report;
  return (
    <>
      <p class="muted">What berth gc would delete now, with this server's gc settings. Nothing is deleted here{session.readOnly ? ' (and the registry is read-only)' : ''}.</p>
      <button type="button" onClick={run} disabled={busy}>
        {busy ? 'Looking…' : 'Run a dry run'}
      </button>
      {error && <ErrorBox error={error} />}
      {result && r && (
        <div class="gc" role="status">
          <p>
            <strong>{formatBytes(r.bytesFreed)}</strong> would be freed: {r.blobsDeleted} blobs, {r.manifestsDeleted} manifests, {r.linksDeleted} layer links and{' '}
            {r.uploadsDeleted} abandoned uploads would go; {r.blobsKept} blobs and {r.manifests} manifests in {r.repositories} repositories stay.
          </p>
          {result.evictions.count > 0 && (
            <p>
              First, {result.evictions.count} cached manifests not pulled for their proxy's evictAfter would be evicted (
              {result.evictions.items.map((e) => `${e.repository}@${e.digest.slice(0, 19)}`).join(', ')}
              {result.evictions.count > result.evictions.items.length ? ', …' : ''}); the blobs only they use are freed by the gc after, not counted above.
            </p>
          )}
          {(r.heldBack.blobs > 0 || r.heldBack.manifests > 0) && (
            <p class="muted">
              Held back as younger than the grace period ({result.settings.grace}): {r.heldBack.blobs} blobs ({formatBytes(r.heldBack.bytes)}), {r.heldBack.manifests}{' '}
              manifests.
            </p>
          )}
          {result.items.length > 0 && (
            <Table label="What would go">
              <thead>
                <tr>
                  <th scope="col">Kind</th>
                  <th scope="col">Repository</th>
                  <th scope="col">Digest or upload</th>
                  <th scope="col" class="num">
                    Bytes
                  </th>
                </tr>
              </thead>
              <tbody>
                {result.items.map((item, i) => (
                  <tr key={i}>
                    <td>{item.kind}</td>
                    <td>{item.repository ?? '-'}</td>
                    <td class="mono break">{item.digest ?? item.upload ?? '-'}</td>
                    <td class="num">{item.bytes !== undefined ? formatBytes(item.bytes) : '-'}</td>
                  </tr>
                ))}
              </tbody>
            </Table>
          )}
          {result.more > 0 && <p class="muted">and {result.more} more.</p>}
        </div>
      )}
    </>
  );
}

function RobotTokens({ session }: { session: Session }) {
  const list = useLoad((signal) => getJson<{ tokens: RobotToken[] }>('/api/admin/tokens', signal), []);
  const [created, setCreated] = useState<RobotToken>();
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const create = async (event: Event): Promise<void> => {
    event.preventDefault();
    const formElement = event.currentTarget as HTMLFormElement;
    const form = new FormData(formElement);
    const scopes = String(form.get('scopes') ?? '')
      .split(/\s+/)
      .filter(Boolean);
    const description = String(form.get('description') ?? '').trim();
    setBusy(true);
    setError(undefined);
    try {
      const token = await sendJson<RobotToken>('POST', '/api/admin/tokens', {
        user: String(form.get('user') ?? '').trim(),
        scopes,
        expires: String(form.get('expires') ?? '90d'),
        ...(description ? { description } : {}),
      });
      setCreated(token);
      formElement.reset();
      list.reload();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  const revoke = async (id: string): Promise<void> => {
    if (!confirm(`Revoke token ${id}? Whatever uses it is refused from now on.`)) return;
    try {
      await sendJson('DELETE', `/api/admin/tokens/${encodeURIComponent(id)}`);
      if (created?.id === id) setCreated(undefined);
      list.reload();
    } catch (err) {
      setError(err as Error);
    }
  };
  const writable = !session.readOnly;
  return (
    <>
      {created?.secret && (
        <div class="secret" role="alert">
          <p>
            <strong>Token {created.id} for {created.user}</strong>: copy the secret now, it is not shown again. Use it as {created.user}'s password (docker login -u{' '}
            {created.user}).
          </p>
          <CopyField label="secret" value={created.secret} />
          <button type="button" onClick={() => setCreated(undefined)}>
            Done
          </button>
        </div>
      )}
      {list.error && <ErrorBox error={list.error} />}
      {!list.data && !list.error && <Loading />}
      {list.data && list.data.tokens.length === 0 && <p class="muted">No robot tokens.</p>}
      {list.data && list.data.tokens.length > 0 && (
        <Table label="Robot tokens">
          <thead>
            <tr>
              <th scope="col">Id</th>
              <th scope="col">User</th>
              <th scope="col">Scope</th>
              <th scope="col">Created</th>
              <th scope="col">Expires</th>
              <th scope="col">State</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.data.tokens.map((t) => (
              <tr key={t.id} data-token={t.id}>
                <td class="mono">
                  {t.id}
                  {t.description && <div class="muted">{t.description}</div>}
                </td>
                <td>{t.user}</td>
                <td class="mono">{t.scopes.join(' ')}</td>
                <td>{formatTime(t.created)}</td>
                <td>{t.expires ? formatTime(t.expires) : 'never'}</td>
                <td>{t.state}</td>
                <td>
                  {writable && (
                    <button type="button" onClick={() => revoke(t.id)} aria-label={`Revoke token ${t.id}`}>
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </Table>
      )}
      {writable && (
        <form class="stack narrow" onSubmit={create}>
          <h3>New robot token</h3>
          <label>
            User
            <input name="user" required maxLength={128} autoComplete="off" />
          </label>
          <label>
            Scopes (one or more, separated by spaces)
            <input name="scopes" required class="mono" placeholder="repository:team/*:pull,push" maxLength={2000} />
          </label>
          <label>
            Expires
            <select name="expires">
              <option value="30d">in 30 days</option>
              <option value="90d" selected>
                in 90 days
              </option>
              <option value="1y">in a year</option>
              <option value="never">never</option>
            </select>
          </label>
          <label>
            Description
            <input name="description" maxLength={200} placeholder="what uses it, e.g. CI of team/app" />
          </label>
          <button type="submit" class="primary" disabled={busy}>
            Create token
          </button>
        </form>
      )}
      {error && <ErrorBox error={error} />}
    </>
  );
}

export function AdminPage({ session }: { session: Session }) {
  useEffect(() => {
    document.title = 'Admin · Berth';
  }, []);
  if (!session.admin) {
    return (
      <>
        <h1>Admin</h1>
        <p>{session.user ? `${session.user} has no admin rights (auth.admins).` : session.auth === 'token' ? 'Sign in as an admin to see this page.' : 'This registry has no admins: it listens beyond loopback without auth.'}</p>
      </>
    );
  }
  return (
    <>
      <h1>Admin</h1>
      <Section title="Storage">
        <StorageChart />
      </Section>
      <Section title="Garbage collection">
        <GcDryRun session={session} />
      </Section>
      <Section title="Robot tokens">{session.auth === 'token' ? <RobotTokens session={session} /> : <p class="muted">Robot tokens need token auth (auth.mode: token).</p>}</Section>
    </>
  );
}
