/**
 * The web console in a real browser (Debian's Chromium, driven by playwright-core; never a
 * downloaded one), against a real Berth with token auth, images pushed by skopeo and a build run
 * by the queue (the fake buildah of test/fixtures/builds, fed by a fake GitHub):
 * sign in, the repository list, a repository's tags, an image's layer chart, a multi-platform
 * index, a build's log streaming to its end, robot tokens created and revoked; what a user
 * without rights and an anonymous visitor see; and the console with auth off.
 *
 * Screenshots of each page go to test-artifacts/console/ (gitignored; docs/console/ holds a few of
 * them for README). The browser runs with the
 * flags this machine needs (no background networking: the network is closed).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { FAKE_BUILDAH, linkedRepository, REPO } from '../api/builds-setup.js';
import { basic, PASSWORDS, teamAuth, writeUsersFile } from '../helpers/auth-server.js';
import { FakeGitHub, randomSha } from '../helpers/fake-github.js';
import { Client } from '../helpers/http.js';
import { makeTestLayout, run, type TestLayout } from '../helpers/images.js';
import { filesystemConfig, startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';

const ARTIFACTS = join(import.meta.dirname, '../../test-artifacts/console');
const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** The whole page, and what fits the window (`-top`: the size README's pictures are made at). */
async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}-top.png`) });
}

describe('the web console in Chromium', { timeout: 180_000 }, () => {
  let work: { path: string; remove: () => Promise<void> };
  let github: FakeGitHub;
  let server: TestServer;
  let config: Config;
  let cleanup: () => Promise<void>;
  let browser: Browser;
  let layout: TestLayout;
  const contexts: BrowserContext[] = [];
  /** Errors the pages logged (a CSP violation shows here): none allowed. */
  const pageErrors: string[] = [];

  async function newPage(viewport = { width: 1000, height: 660 }): Promise<Page> {
    const context = await browser.newContext({ viewport });
    contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    page.on('console', (message) => {
      if (message.type() === 'error' && !/status of 40[134]/.test(message.text())) pageErrors.push(message.text());
    });
    return page;
  }

  async function signIn(page: Page, user: string): Promise<void> {
    await page.goto(`${server.url}/signin`);
    await page.getByLabel('User name').fill(user);
    await page.getByLabel('Password').fill(PASSWORDS[user]!);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
  }

  const repositoryNames = (page: Page) => page.locator('main table tbody tr td:first-child a').allTextContents();

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    work = await tempDir('berth-console-');
    layout = await makeTestLayout(work.path);
    github = await FakeGitHub.start();
    // The Dockerfile makes the fake buildah print 40 lines, then take 5 s: the log is followed live.
    const sha = randomSha();
    const dockerfile = { name: `${REPO.replace('/', '-')}-${sha.slice(0, 7)}/Dockerfile`, content: '# fake-flood: 40\n# fake-sleep: 5\nFROM scratch\n' };
    await github.commit(REPO, { entries: [dockerfile] }, { sha, refs: ['heads/main'], message: 'console test' });
    const made = await filesystemConfig((c) => {
      teamAuth(c, join(c.storage.filesystem.root, 'users.htpasswd'));
      c.auth.admins = ['alice'];
      c.auth.rules = [{ repository: 'acme/*', user: 'alice', actions: ['pull', 'push', 'delete'] }, ...c.auth.rules];
      c.builds = { ...c.builds, builder: 'buildah', buildah: FAKE_BUILDAH, workDir: join(work.path, 'builds'), pollSeconds: 1, github: { api: github.url, token: 'ghp_test' }, repositories: [linkedRepository()] };
    });
    config = made.config;
    cleanup = made.cleanup;
    await writeUsersFile(config.auth.usersFile);
    server = await startTestServer(config);
    const creds = `alice:${PASSWORDS.alice}`;
    const push = (tag: string, target: string, all = false) =>
      run('skopeo', ['copy', '-q', ...(all ? ['--all'] : []), '--dest-tls-verify=false', '--dest-creds', creds, `oci:${layout.dir}:${tag}`, `docker://${server.host}/${target}`]);
    await push('test', 'team-a/app:1.0');
    await push('multi', 'team-a/multi:1', true);
    await push('test', 'public/hello:1');
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_FLAGS });
  });

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close();
    await server?.close();
    await github?.close();
    await cleanup?.();
    await work?.remove();
  });

  it('shows an anonymous visitor the public repositories only, and asks it to sign in for the rest', async () => {
    const page = await newPage();
    await page.goto(server.url);
    await page.locator('main table').waitFor();
    expect(await repositoryNames(page)).toEqual(['public/hello']);
    await expect(page.getByRole('link', { name: 'Sign in' }).isVisible()).resolves.toBe(true);
    await shot(page, 'anonymous');
    await page.goto(`${server.url}/r/team-a/app`);
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toMatch(/authentication required/);
    expect(await page.locator('body').textContent()).not.toContain('1.0');
  });

  it('signs alice in, lists her repositories by last push, shows tags with pull commands and the layer chart', async () => {
    const page = await newPage();
    await signIn(page, 'alice');
    await page.locator('main table').waitFor();
    expect(await repositoryNames(page)).toEqual(['public/hello', 'team-a/multi', 'team-a/app']);
    await shot(page, 'repositories');

    await page.getByRole('link', { name: 'team-a/app' }).click();
    await page.getByRole('heading', { name: 'team-a/app' }).waitFor();
    const row = page.locator('tr', { has: page.getByRole('link', { name: '1.0' }) });
    await row.waitFor();
    expect(await row.textContent()).toContain('linux/amd64');
    expect(await row.textContent()).toContain('alice'); // the pusher, from the audit trail
    expect(await page.locator('input[readonly]').first().inputValue()).toBe(`docker pull ${server.host}/team-a/app:1.0`);
    await shot(page, 'repository');

    await page.getByRole('link', { name: '1.0' }).click();
    await page.getByText(/^Layer sizes/).waitFor();
    const bars = page.locator('ol.bars li');
    expect(await bars.count()).toBe(2);
    // The bars are drawn to scale: the larger layer's bar is the wider.
    const widths = await page.locator('.bar-fill').evaluateAll((fills) => fills.map((f) => f.getBoundingClientRect().width));
    expect(Math.max(...widths)).toBeGreaterThan(Math.min(...widths) * 2);
    expect(await page.locator('main').textContent()).toContain('GREETING=hi');
    expect(await page.locator('main').textContent()).toContain('/app/run.sh');
    expect(page.url()).toBe(`${server.url}/r/team-a/app/t/1.0`);
    await shot(page, 'image');

    // Back and forward move between the pages, as links do.
    await page.goBack();
    await page.getByRole('heading', { name: 'team-a/app' }).waitFor();
    await page.goForward();
    await page.getByText(/^Layer sizes/).waitFor();
  });

  it('opens a multi-platform index and each platform of it, on a phone-sized screen too', async () => {
    const page = await newPage({ width: 390, height: 844 });
    await signIn(page, 'alice');
    await page.goto(`${server.url}/r/team-a/multi/t/1`);
    const platforms = page.getByRole('region', { name: 'Platforms' });
    await platforms.waitFor();
    const text = await platforms.textContent();
    expect(text).toContain('linux/amd64');
    expect(text).toContain('linux/arm64');
    // Nothing wider than the screen but the tables, which scroll on their own.
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await shot(page, 'index-phone');
    await platforms.getByRole('row', { name: /linux\/arm64/ }).getByRole('link').click();
    await page.getByText(/^Layer sizes/).waitFor();
    expect(await page.locator('main').textContent()).toContain('linux/arm64');
  });

  it('triggers a build and follows its log live to the end', async () => {
    const page = await newPage();
    await signIn(page, 'alice');
    await page.goto(`${server.url}/r/acme/hello`);
    await page.getByRole('button', { name: 'Build now' }).click();
    await page.waitForURL(/\/builds\/\d{8}-\d{9}-[0-9a-f]{6}$/);
    const log = page.getByLabel('Build log');
    // While the build sleeps, the lines it printed are already on the page: the stream is live
    // (one locator, so that the state and the text are read at the same moment; Playwright's
    // selector engine, not a string evaluated in the page, which the console's CSP forbids).
    await page
      .locator('pre.log[data-state="live"]', { hasText: 'output line 39', hasNotText: /^COMMIT$/m })
      .waitFor({ timeout: 60_000 })
      .catch(async (err: Error) => {
        throw new Error(`${err.message}\npage: ${await page.locator('main').textContent()}`);
      });
    await page.locator('pre.log[data-state="ended"]').waitFor({ timeout: 60_000 });
    expect(await log.textContent()).toContain('\nCOMMIT\n'); // what the fake buildah prints after its sleep
    await page.locator('.badge', { hasText: 'succeeded' }).waitFor();
    await page.getByRole('button', { name: 'Run again' }).waitFor();
    await shot(page, 'build');

    await page.goto(`${server.url}/builds`);
    await page.locator('main table').waitFor();
    expect(await page.locator('main table tbody tr').count()).toBe(1);
  });

  it('lets an admin see storage, run a gc dry run, and create a robot token (shown once) and revoke it', async () => {
    const page = await newPage();
    page.on('dialog', (dialog) => void dialog.accept());
    await signIn(page, 'alice');
    await page.getByRole('link', { name: 'Admin' }).click();
    await page.getByText('Storage per repository').waitFor();
    expect(await page.locator('ol.bars li').count()).toBe(3);
    await page.getByRole('button', { name: 'Run a dry run' }).click();
    await page.getByText(/would be freed/).waitFor();

    await page.getByLabel('User', { exact: true }).fill('alice');
    await page.getByLabel(/^Scopes/).fill('repository:team-a/*:pull');
    await page.getByLabel('Description').fill('CI of team-a');
    await page.getByRole('button', { name: 'Create token' }).click();
    const secretField = page.locator('.secret input');
    await secretField.waitFor();
    const secret = await secretField.inputValue();
    expect(secret).toMatch(/^berth_[a-z0-9]{16}_/);
    const id = secret.slice(6, 22);
    await shot(page, 'admin');
    const robot = new Client(server.url, { Authorization: basic('alice', secret) });
    expect((await robot.get('/v2/team-a/app/tags/list')).status).toBe(200);

    await page.getByRole('button', { name: 'Done' }).click();
    expect(await page.locator('body').textContent()).not.toContain(secret);
    await page.getByRole('button', { name: `Revoke token ${id}` }).click();
    await page.locator(`tr[data-token="${id}"]`).waitFor({ state: 'detached' });
    expect((await robot.get('/v2/team-a/app/tags/list')).status).toBe(401);
  });

  it('shows a user without rights neither private repositories nor their builds, through the page or its JSON', async () => {
    const page = await newPage();
    await signIn(page, 'dave');
    await page.locator('main table').waitFor();
    expect(await repositoryNames(page)).toEqual(['public/hello']);
    expect(await page.getByRole('link', { name: 'Admin' }).count()).toBe(0);
    await page.goto(`${server.url}/builds`);
    await page.getByText('No builds.').waitFor();
    const build = (await new Client(server.url, { Authorization: basic('alice', PASSWORDS.alice!) }).get('/api/builds')).json.builds[0].id as string;
    await page.goto(`${server.url}/builds/${build}`);
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toMatch(/no build/);
    await page.goto(`${server.url}/admin`);
    await page.getByText('dave has no admin rights').waitFor();
    // The JSON the page reads, with the page's own token: the same answers.
    const json = (await page.evaluate(`(async () => {
      const form = new URLSearchParams({ grant_type: 'password', username: 'dave', password: ${JSON.stringify(PASSWORDS.dave)}, scope: 'berth:api:*' });
      const token = (await (await fetch('/token', { method: 'POST', body: form })).json()).access_token;
      const get = async (path) => {
        const res = await fetch(path, { headers: { Authorization: 'Bearer ' + token } });
        return { status: res.status, body: await res.json() };
      };
      return { repositories: await get('/api/repositories?sort=pushed'), builds: await get('/api/builds'), build: await get('/api/builds/${build}'), tags: await get('/api/repositories/team-a/app/tags') };
    })()`)) as Record<'repositories' | 'builds' | 'build' | 'tags', { status: number; body: any }>;
    expect(json.repositories.body.repositories.map((r: { name: string }) => r.name)).toEqual(['public/hello']);
    expect(json.builds.body.builds).toEqual([]);
    expect(json.build.status).toBe(404);
    expect(json.tags.status).toBe(403);
    await shot(page, 'no-rights');
  });

  it('is reachable from the keyboard: a skip link first, then the navigation', async () => {
    const page = await newPage();
    await page.goto(server.url);
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Skip to content');
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Berth');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter'); // Repositories
    await page.locator('main table').waitFor();
  });

  it('logged no errors on any page (a CSP violation would be one)', () => {
    expect(pageErrors).toEqual([]);
  });
});

describe('the web console with auth off', { timeout: 120_000 }, () => {
  it('lists repositories without a sign-in and shows the admin page to everybody on loopback, in dark mode too', async () => {
    const work = await tempDir('berth-console-open-');
    const made = await filesystemConfig();
    const server = await startTestServer(made.config);
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_FLAGS });
    try {
      const layout = await makeTestLayout(work.path);
      await run('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${layout.dir}:test`, `docker://${server.host}/demo/app:v1`]);
      const context = await browser.newContext({ viewport: { width: 1000, height: 700 }, colorScheme: 'dark' });
      const page = await context.newPage();
      await page.goto(server.url);
      await page.getByRole('link', { name: 'demo/app' }).waitFor();
      expect(await page.getByRole('link', { name: 'Sign in' }).count()).toBe(0);
      const background = await page.evaluate('getComputedStyle(document.body).backgroundColor');
      expect(background).toBe('rgb(15, 18, 22)');
      await shot(page, 'auth-off-dark');
      await page.getByRole('link', { name: 'Admin' }).click();
      await page.getByText('Storage per repository').waitFor();
      await context.close();
    } finally {
      await browser.close();
      await server.close();
      await made.cleanup();
      await work.remove();
    }
  });
});
