/** A repository: its tags (digest, size, platforms, pushed when and by whom), pull commands, builds. */
import { useEffect } from 'preact/hooks';
import { loadSession, repoPath, type Session } from '../api';
import { CopyField, ErrorBox, Loading, Section, Table, useLoad, usePages } from '../components';
import { formatBytes, formatTime, relativeTime, shortDigest } from '../format';
import { BuildList, TriggerBuild } from './builds';

export interface TagInfo {
  tag: string;
  digest: string;
  mediaType: string;
  size: number;
  platforms: string[];
  pushed?: string;
  pushedBy?: string;
}

interface TagPage {
  tags: TagInfo[];
  next?: string;
}

const PAGE = 100;

export function PullCommands({ session, name, reference }: { session: Session; name: string; reference: string }) {
  const ref = `${session.registry}/${name}${reference.includes(':') ? `@${reference}` : `:${reference}`}`;
  return (
    <div class="commands">
      <CopyField label="docker" value={`docker pull ${ref}`} />
      <CopyField label="podman" value={`podman pull ${ref}`} />
    </div>
  );
}

export function RepositoryPage({ name, session }: { name: string; session: Session }) {
  const rights = useLoad(() => loadSession(name), [name]);
  const base = `/api/repositories/${repoPath(name)}/tags?n=${PAGE}`;
  const { rows: tags, next, error, loading, more } = usePages((last) => (last ? `${base}&last=${encodeURIComponent(last)}` : base), (page: TagPage) => page.tags, [name]);

  useEffect(() => {
    document.title = `${name} · Berth`;
  }, [name]);

  const newest = [...tags].sort((a, b) => (b.pushed ?? '').localeCompare(a.pushed ?? ''))[0];
  const github = rights.data?.github;
  return (
    <>
      <p class="crumbs">
        <a href="/">Repositories</a> /
      </p>
      <h1 class="mono-title">{name}</h1>
      {error && <ErrorBox error={error} />}
      {loading ? (
        <Loading />
      ) : (
        !error && (
          <>
            {newest && <PullCommands session={session} name={name} reference={newest.tag} />}
            <Section title={`Tags (${tags.length}${next ? '+' : ''})`}>
              {tags.length === 0 ? (
                <p class="muted">No tags.</p>
              ) : (
                <Table label="Tags">
                  <thead>
                    <tr>
                      <th scope="col">Tag</th>
                      <th scope="col">Digest</th>
                      <th scope="col" class="num">
                        Size
                      </th>
                      <th scope="col">Platforms</th>
                      <th scope="col">Pushed</th>
                      <th scope="col">By</th>
                    </tr>
                  </thead>
                  <tbody>
                    {tags.map((t) => (
                      <tr key={t.tag}>
                        <td>
                          <a href={`/r/${repoPath(name)}/t/${encodeURIComponent(t.tag)}`}>{t.tag}</a>
                        </td>
                        <td class="mono" title={t.digest}>
                          {shortDigest(t.digest)}
                        </td>
                        <td class="num">{formatBytes(t.size)}</td>
                        <td>{t.platforms.join(', ') || '-'}</td>
                        <td title={formatTime(t.pushed)}>{relativeTime(t.pushed)}</td>
                        <td>{t.pushedBy ?? '-'}</td>
                      </tr>
                    ))}
                  </tbody>
                </Table>
              )}
              {next && (
                <button type="button" onClick={more}>
                  More tags
                </button>
              )}
            </Section>
          </>
        )
      )}
      {github && (
        <Section title="Builds" actions={rights.data?.actions?.includes('push') && !session.readOnly ? <TriggerBuild repository={name} /> : undefined}>
          <p class="muted">
            Built from <a href={`https://github.com/${github.split('/').map(encodeURIComponent).join('/')}`}>{github}</a> on GitHub.
          </p>
          <BuildList repository={name} limit={10} />
        </Section>
      )}
    </>
  );
}
