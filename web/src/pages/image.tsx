/**
 * An image or index by tag or digest: pull commands; for an image its layers as a bar chart, its
 * runtime config and history; for an index each platform's image; for both the referrers
 * (signatures, SBOMs, attestations) by artifact type.
 */
import { Fragment } from 'preact';
import { useEffect } from 'preact/hooks';
import { getJson, repoPath, type Session } from '../api';
import { BarChart, ErrorBox, Loading, Section, Table, useLoad } from '../components';
import { formatBytes, formatTime, shortDigest } from '../format';
import type { ManifestDetails as Details } from '../../../src/registry/details-types';
import { PullCommands } from './repository';


/** A JSON-ish list as people read it: `["/bin/sh","-c"]` shown as `/bin/sh -c`, each part quoted when it has spaces. */
function words(list: string[] | undefined): string | undefined {
  return list?.map((w) => (/\s/.test(w) || w === '' ? JSON.stringify(w) : w)).join(' ');
}

function ConfigFacts({ config }: { config: NonNullable<Details['config']> }) {
  const rows: [string, string | undefined][] = [
    ['Platform', [config.os, config.architecture, config.variant].filter(Boolean).join('/') || undefined],
    ['Created', config.created && formatTime(config.created)],
    ['Author', config.author],
    ['Entrypoint', words(config.entrypoint)],
    ['Cmd', words(config.cmd)],
    ['User', config.user],
    ['Working dir', config.workingDir],
    ['Exposed ports', config.exposedPorts?.join(', ')],
    ['Volumes', config.volumes?.join(', ')],
    ['Stop signal', config.stopSignal],
  ];
  return (
    <>
      <dl class="facts">
        {rows
          .filter((r): r is [string, string] => r[1] !== undefined && r[1] !== '')
          .map(([k, v]) => (
            <Fragment key={k}>
              <dt>{k}</dt>
              <dd class="mono">{v}</dd>
            </Fragment>
          ))}
      </dl>
      {config.env && config.env.length > 0 && (
        <>
          <h3>Environment</h3>
          <ul class="plain mono">
            {config.env.map((e, i) => (
              <li key={i}>{e}</li>
            ))}
          </ul>
        </>
      )}
      {config.labels && (
        <>
          <h3>Labels</h3>
          <dl class="facts">
            {Object.entries(config.labels).map(([k, v]) => (
              <Fragment key={k}>
                <dt class="mono">{k}</dt>
                <dd class="mono">{v}</dd>
              </Fragment>
            ))}
          </dl>
        </>
      )}
    </>
  );
}

function Referrers({ name, referrers }: { name: string; referrers: Details['referrers'] }) {
  if (referrers.length === 0) return <p class="muted">None: no signature, SBOM or attestation refers to this manifest.</p>;
  const groups = new Map<string, Details['referrers']>();
  for (const r of referrers) {
    const type = r.artifactType ?? r.mediaType;
    groups.set(type, [...(groups.get(type) ?? []), r]);
  }
  return (
    <>
      {[...groups].map(([type, list]) => (
        <div key={type}>
          <h3 class="mono">{type}</h3>
          <ul class="plain">
            {list.map((r) => (
              <li key={r.digest}>
                <a class="mono" href={`/r/${repoPath(name)}/d/${encodeURIComponent(r.digest)}`}>
                  {shortDigest(r.digest)}
                </a>{' '}
                <span class="muted">
                  {formatBytes(r.size)}
                  {r.annotations?.['org.opencontainers.image.created'] && `, ${formatTime(r.annotations['org.opencontainers.image.created'])}`}
                </span>
              </li>
            ))}
          </ul>
        </div>
      ))}
    </>
  );
}

export function ImagePage({ name, reference, session }: { name: string; reference: string; session: Session }) {
  const details = useLoad((signal) => getJson<Details>(`/api/repositories/${repoPath(name)}/manifests/${encodeURIComponent(reference)}`, signal), [name, reference]);
  useEffect(() => {
    document.title = `${name}${reference.includes(':') ? '@' : ':'}${reference} · Berth`;
  }, [name, reference]);
  const d = details.data;
  const isDigest = reference.includes(':');
  return (
    <>
      <p class="crumbs">
        <a href="/">Repositories</a> / <a href={`/r/${repoPath(name)}`}>{name}</a> /
      </p>
      <h1 class="mono-title">
        {name}
        {isDigest ? `@${shortDigest(reference)}` : `:${reference}`}
      </h1>
      {details.error && <ErrorBox error={details.error} />}
      {!d && !details.error && <Loading />}
      {d && (
        <>
          <dl class="facts">
            <dt>Digest</dt>
            <dd class="mono break">{d.digest}</dd>
            <dt>Type</dt>
            <dd class="mono">{d.artifactType ?? d.mediaType}</dd>
            <dt>Pull size</dt>
            <dd>{formatBytes(d.size)}</dd>
            {d.subject && (
              <>
                <dt>Refers to</dt>
                <dd>
                  <a class="mono" href={`/r/${repoPath(name)}/d/${encodeURIComponent(d.subject)}`}>
                    {shortDigest(d.subject)}
                  </a>
                </dd>
              </>
            )}
          </dl>
          <PullCommands session={session} name={name} reference={reference} />
          {!isDigest && <PullCommands session={session} name={name} reference={d.digest} />}
          {d.kind === 'index' && d.manifests && (
            <Section title={`Platforms (${d.manifests.length})`}>
              <Table label="Platforms">
                <thead>
                  <tr>
                    <th scope="col">Platform</th>
                    <th scope="col">Digest</th>
                    <th scope="col" class="num">
                      Size
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {d.manifests.map((m) => (
                    <tr key={m.digest}>
                      <td>{m.platform ?? m.artifactType ?? 'unknown'}</td>
                      <td>
                        <a class="mono" href={`/r/${repoPath(name)}/d/${encodeURIComponent(m.digest)}`}>
                          {shortDigest(m.digest)}
                        </a>
                      </td>
                      <td class="num">{formatBytes(m.size)}</td>
                    </tr>
                  ))}
                </tbody>
              </Table>
            </Section>
          )}
          {d.layers && (
            <Section title={`Layers (${d.layers.length})`}>
              <BarChart
                caption={`Layer sizes, ${formatBytes(d.layers.reduce((n, l) => n + l.size, 0))} in all`}
                bars={d.layers.map((l, i) => ({
                  key: `${i}-${l.digest}`,
                  label: (
                    <>
                      <span class="muted">{i + 1}.</span> <span class="mono">{shortDigest(l.digest)}</span>
                      {l.foreign && <span class="muted"> (foreign)</span>}
                    </>
                  ),
                  value: l.size,
                  title: `${l.digest}\n${l.mediaType}`,
                }))}
              />
            </Section>
          )}
          {d.config && (
            <Section title="Config">
              <ConfigFacts config={d.config} />
            </Section>
          )}
          {d.history && d.history.length > 0 && (
            <Section title={`History (${d.history.length})`}>
              <Table label="History">
                <thead>
                  <tr>
                    <th scope="col">Created</th>
                    <th scope="col">Step</th>
                  </tr>
                </thead>
                <tbody>
                  {d.history.map((h, i) => (
                    <tr key={i} class={h.emptyLayer ? 'muted' : undefined}>
                      <td>{formatTime(h.created)}</td>
                      <td class="mono break">
                        {h.createdBy ?? h.comment ?? '-'}
                        {h.emptyLayer && <span class="muted"> (no layer)</span>}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </Table>
            </Section>
          )}
          <Section title={`Referrers (${d.referrers.length})`}>
            <Referrers name={name} referrers={d.referrers} />
          </Section>
          {d.truncated && <p class="muted">Long lists were cut: {Object.entries(d.truncated).map(([k, n]) => `${n} more ${k}`).join(', ')}.</p>}
        </>
      )}
    </>
  );
}
