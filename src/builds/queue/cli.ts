/**
 * `berth builds list|logs|trigger|cancel`: a client of a running Berth's /api/builds (so it sees
 * what every replica sees), connecting as src/cli-client.ts says.
 */
import { parseArgs } from 'node:util';
import { call, CONNECT_OPTIONS, CONNECT_USAGE, type Connection, connect, explainEmpty, reportRemoteErrors } from '../../cli-client.js';
import { UsageError } from '../../cli-util.js';

const USAGE = `usage: berth builds <command> [options]

commands:
  list [--repository R] [--state S] [-n N] [--json]
                          builds, newest first (R: owner/repo or the Berth repository;
                          S: queued, running, succeeded, failed, cancelled)
  logs ID [--no-follow]   a build's log, following it until the build ends; exits 1 when
                          the build failed or was cancelled
  trigger REPOSITORY [--branch B | --tag T | --ref REF] [--sha SHA] [--rule NAME] [--follow]
                          build as if the ref had been pushed (default: the default branch at
                          its current commit); --follow streams the logs
  cancel ID               cancel a queued or running build

options:
${CONNECT_USAGE}
  --config FILE      config file for the default URL
`;

interface ShownBuild {
  id: string;
  state: string;
  github: string;
  image: string;
  ref: { type: string; name: string };
  sha: string;
  tags: string[];
  createdAt: string;
  error?: string;
}

function table(builds: ShownBuild[]): string {
  const rows = [['ID', 'STATE', 'GITHUB', 'REF', 'COMMIT', 'IMAGE:TAGS', 'CREATED']];
  for (const b of builds) rows.push([b.id, b.state, b.github, `${b.ref.type}:${b.ref.name}`, b.sha.slice(0, 12), `${b.image}:${b.tags.join(',')}`, b.createdAt]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

/** Streams a build's log to stdout; returns the build's final state. */
async function streamLogs(conn: Connection, id: string, follow: boolean): Promise<string> {
  const res = await call(conn, 'GET', `/api/builds/${encodeURIComponent(id)}/logs${follow ? '' : '?follow=false'}`);
  if (res.body) {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) process.stdout.write(chunk);
  }
  const record = (await (await call(conn, 'GET', `/api/builds/${encodeURIComponent(id)}`)).json()) as ShownBuild;
  return record.state;
}

export function runBuildsCommand(args: string[]): Promise<void> {
  return reportRemoteErrors('builds', () => run(args));
}

async function run(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      ...CONNECT_OPTIONS,
      config: { type: 'string' },
      repository: { type: 'string' },
      state: { type: 'string' },
      n: { type: 'string', short: 'n' },
      json: { type: 'boolean' },
      'no-follow': { type: 'boolean' },
      follow: { type: 'boolean' },
      branch: { type: 'string' },
      tag: { type: 'string' },
      ref: { type: 'string' },
      sha: { type: 'string' },
      rule: { type: 'string' },
      help: { type: 'boolean' },
    },
    allowPositionals: true,
    strict: true,
  });
  const [command, target, ...extra] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(USAGE);
    return;
  }
  if (extra.length > 0) throw new UsageError(`unexpected ${extra.join(' ')}`);
  switch (command) {
    case 'list': {
      const conn = await connect(values);
      const query = new URLSearchParams();
      if (values.repository) query.set('repository', values.repository);
      if (values.state) query.set('state', values.state);
      if (values.n) query.set('n', values.n);
      const body = (await (await call(conn, 'GET', `/api/builds${query.size ? `?${query}` : ''}`)).json()) as { builds: ShownBuild[] };
      process.stdout.write(values.json ? `${JSON.stringify(body, null, 2)}\n` : table(body.builds));
      if (body.builds.length === 0 && !values.json) await explainEmpty(conn, 'builds');
      return;
    }
    case 'logs': {
      if (!target) throw new UsageError('berth builds logs ID');
      const state = await streamLogs(await connect(values), target, !values['no-follow']);
      if (state === 'failed' || state === 'cancelled') process.exitCode = 1;
      return;
    }
    case 'cancel': {
      if (!target) throw new UsageError('berth builds cancel ID');
      const body = (await (await call(await connect(values), 'POST', `/api/builds/${encodeURIComponent(target)}/cancel`)).json()) as ShownBuild & { cancelRequested?: boolean };
      process.stdout.write(`${body.id} ${body.cancelRequested ? 'cancel requested' : body.state}\n`);
      return;
    }
    case 'trigger': {
      if (!target) throw new UsageError('berth builds trigger REPOSITORY');
      const conn = await connect(values);
      const request = { repository: target, ref: values.ref, branch: values.branch, tag: values.tag, sha: values.sha, rule: values.rule };
      const body = (await (await call(conn, 'POST', '/api/builds', request)).json()) as { builds: ShownBuild[] };
      for (const b of body.builds) process.stdout.write(`${b.id} queued: ${b.image}:${b.tags.join(',')} from ${b.ref.type} ${b.ref.name} (${b.sha.slice(0, 12)})\n`);
      if (values.follow) {
        for (const b of body.builds) {
          const state = await streamLogs(conn, b.id, true);
          if (state !== 'succeeded') process.exitCode = 1;
        }
      }
      return;
    }
    default:
      throw new UsageError(`unknown builds command ${JSON.stringify(command)}`);
  }
}
