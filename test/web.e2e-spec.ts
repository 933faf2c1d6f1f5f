import AxeBuilder from '@axe-core/playwright';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { WEB_DIST_DIR } from '../src/web/web-client.js';
import { addMessages, createSession } from './support/factories.js';
import { FAKE_MODEL, FAKE_REPLY, startFakeLlmServer, type FakeLlmServer } from './support/fake-llm-server.js';
import { createTestApp, DATABASE_KIND, type TestApp } from './support/test-app.js';

/**
 * The web client in a real browser: Debian's chromium driven by playwright-core (no browser download), against
 * the whole app started here on a free port with the suite's fake OpenAI-compatible model. The client is built
 * first (npm run build:web), as `npm start` does. Screenshots of the main screens go to docs/screenshots/ on
 * the embedded-database run (the README shows them).
 */
const ROOT = join(WEB_DIST_DIR, '..', '..');
const SCREENSHOTS = join(ROOT, 'docs', 'screenshots');
const INITIAL_JS_BUDGET = 250 * 1024;

/**
 * `count` messages `message 1`..`message <count>` in one branch of a session, inserted the way the benchmarks'
 * data set is (bench/dataset.ts): with triggers off and the tree columns and session counters computed here,
 * because placing 10,000 messages one trigger call at a time takes minutes on the embedded database.
 */
async function addLongConversation(
  t: TestApp,
  sessionId: string,
  userId: string,
  count: number,
): Promise<void> {
  const id = (k: string) => `md5('${sessionId}:' || ${k})::uuid`;
  await t.sql.exec(`
    BEGIN;
    SET LOCAL session_replication_role = replica;
    INSERT INTO chat_messages (message_id, parent_id, depth, line_id, session_id, user_id, role, content,
                               created_at, updated_at)
    SELECT ${id('k')}, CASE WHEN k > 1 THEN ${id('(k - 1)')} END, k - 1, ${id('1')},
           '${sessionId}', '${userId}', CASE WHEN k % 2 = 1 THEN 'user' ELSE 'assistant' END, 'message ' || k,
           now() - interval '1 day' + k * interval '1 second', now() - interval '1 day' + k * interval '1 second'
      FROM generate_series(1, ${count}) k;
    SET LOCAL session_replication_role = origin;
    UPDATE sessions SET message_count = ${count}, last_message_preview = 'message ${count}',
                        last_message_at = now(), current_leaf_id = ${id(String(count))}
     WHERE session_id = '${sessionId}';
    COMMIT;`);
}

/** Polls `read` until `done` accepts its value (the test's own timeout bounds it); returns that value. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function findChromium(): string | null {
  if (process.env.CHROMIUM_BIN) return process.env.CHROMIUM_BIN;
  for (const name of ['chromium', 'chromium-browser']) {
    const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
    if (found) return found;
  }
  return null;
}

const CHROMIUM = findChromium();
const IN_CI = process.env.CI === 'true';
const skipReason = CHROMIUM ? null : 'chromium is not installed (apt-get install chromium; .ci/run does)';
const suite = skipReason && !IN_CI ? describe.skip : describe;

/** Routes of issues landing beside this one: their screens are tested once openapi.json has them. */
const API_PATHS = Object.keys(
  (JSON.parse(readFileSync(new URL('../openapi.json', import.meta.url), 'utf8')) as { paths: object }).paths,
);
const waitingFor = (path: string, what: string) =>
  API_PATHS.includes(path)
    ? { it, note: '' }
    : { it: it.skip, note: ` [skipped: ${what} (${path}) has not landed]` };
const tree = waitingFor('/api/v1/sessions/{session_id}/current-leaf', 'the conversation tree');
const search = waitingFor('/api/v1/search', 'search');
const accounts = waitingFor('/api/v1/auth/login', 'local accounts');
const resumable = waitingFor('/api/v1/chat/{session_id}/stream', 'resumable streams');

suite(
  `web client in chromium (${DATABASE_KIND})${skipReason && !IN_CI ? ` [skipped: ${skipReason}]` : ''}`,
  () => {
    let fake: FakeLlmServer;
    let t: TestApp;
    let baseUrl: string;
    let browser: Browser;
    let context: BrowserContext;
    let page: Page;
    let buildOutput = '';

    const shoot = async (target: Page, name: string) => {
      if (DATABASE_KIND !== 'pglite') return;
      mkdirSync(SCREENSHOTS, { recursive: true });
      await target.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
    };

    const expectNoSeriousA11yViolations = async (target: Page) => {
      const result = await new AxeBuilder({ page: target }).analyze();
      const serious = result.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
      expect(serious).toEqual([]);
    };

    /** The user the page acts as (header mode keeps the id in localStorage). */
    const signedInUserId = async () =>
      (
        JSON.parse(await page.evaluate<string>("localStorage.getItem('parley.identity')")) as {
          userId: string;
        }
      ).userId;

    const composer = () => page.getByLabel('Message', { exact: true });

    beforeAll(async () => {
      if (!CHROMIUM) throw new Error(`CI=true and ${skipReason}`);
      buildOutput = execFileSync(
        process.execPath,
        [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--config', join(ROOT, 'web/vite.config.ts')],
        {
          cwd: ROOT,
          encoding: 'utf8',
          env: { ...process.env, NO_COLOR: '1', NODE_ENV: 'production' },
        },
      );
      fake = await startFakeLlmServer();
      t = await createTestApp({
        LLM_PROVIDER: 'openai-compatible',
        LLM_BASE_URL: fake.baseUrl,
        LLM_MODEL: FAKE_MODEL,
        LOG_LEVEL: 'silent',
      });
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      baseUrl = (await t.app.getUrl()).replace('[::1]', '127.0.0.1');
      browser = await chromium.launch({ executablePath: CHROMIUM!, args: ['--no-sandbox'] });
      context = await browser.newContext({ baseURL: baseUrl, viewport: { width: 1200, height: 800 } });
      page = await context.newPage();
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      t?.app.getHttpServer().closeAllConnections();
      await t?.close();
      await fake?.close();
    });

    it('the build reports the initial JavaScript, and it is at most 250 KB gzipped', () => {
      const reported = /initial JS: ([\d.]+) KB gzipped/.exec(buildOutput);
      expect(reported).not.toBeNull();
      // Measured here too, from what index.html makes the browser load before the first screen.
      const html = readFileSync(join(WEB_DIST_DIR, 'index.html'), 'utf8');
      const files = [
        ...html.matchAll(/<(?:script[^>]*src|link[^>]*rel="modulepreload"[^>]*href)="([^"]+\.js)"/g),
      ].map((m) => m[1]);
      expect(files.length).toBeGreaterThan(0);
      const gzipped = files.reduce(
        (sum, file) => sum + gzipSync(readFileSync(join(WEB_DIST_DIR, file))).length,
        0,
      );
      expect(gzipped).toBeLessThanOrEqual(INITIAL_JS_BUDGET);
      expect(Math.abs(gzipped / 1024 - Number(reported![1]))).toBeLessThan(1);
    });

    it('serves the client at / (index.html revalidated, hashed assets cached for a year) beside unchanged API, /docs and health routes', async () => {
      const index = await fetch(`${baseUrl}/`);
      expect(index.status).toBe(200);
      expect(index.headers.get('content-type')).toMatch(/^text\/html/);
      expect(index.headers.get('cache-control')).toBe('no-cache');
      const html = await index.text();
      const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1];
      const script = await fetch(`${baseUrl}${asset}`);
      expect(script.status).toBe(200);
      expect(script.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect((await fetch(`${baseUrl}/health/live`)).status).toBe(200);
      expect((await fetch(`${baseUrl}/docs`)).status).toBe(200);
      const missing = await fetch(`${baseUrl}/api/v1/nothing-here`);
      expect(missing.status).toBe(404);
      expect(await missing.json()).toMatchObject({ statusCode: 404, error: 'not_found' });
      // The optional screens follow the routes this server has.
      expect(await (await fetch(`${baseUrl}/web-config.json`)).json()).toEqual({
        header_users: true,
        bearer: false,
        features: {
          accounts: API_PATHS.includes('/api/v1/auth/login'),
          search: API_PATHS.includes('/api/v1/search'),
          export: true,
          branches: API_PATHS.includes('/api/v1/sessions/{session_id}/current-leaf'),
          stop: true,
          resume: true,
        },
      });
    });

    it('header mode on a development database: the picker creates a user and opens the workspace', async () => {
      await page.goto('/');
      await page.getByRole('heading', { name: 'Create a user' }).waitFor();
      await expectNoSeriousA11yViolations(page);
      await shoot(page, 'sign-in');
      await page.getByLabel('Display name').fill('Ada');
      await page.getByRole('button', { name: 'Create and continue' }).click();
      await page.getByRole('heading', { name: 'What are you writing?' }).waitFor();
      expect(await page.locator('.who').textContent()).toBe('Ada');
    });

    it('a new chat streams its reply (Enter sends, Shift+Enter is a new line) and the session appears in the sidebar', async () => {
      await composer().click();
      await composer().pressSequentially('Plan a short story');
      await composer().press('Shift+Enter');
      await composer().pressSequentially('about a lighthouse');
      expect(await composer().inputValue()).toBe('Plan a short story\nabout a lighthouse');
      await composer().press('Enter');
      await page.locator('.message.assistant', { hasText: FAKE_REPLY }).waitFor();
      expect(await page.locator('.message.user').first().textContent()).toContain(
        'Plan a short story\nabout a lighthouse',
      );
      expect(page.url()).toMatch(/#\/s\/[0-9a-f-]{36}$/);
      const row = page.locator('.session').first();
      await row.locator('.session-meta', { hasText: '2 messages' }).waitFor();
      expect(await row.locator('.session-preview').textContent()).toBe(FAKE_REPLY);
      expect(await row.locator('time').textContent()).toMatch(/now|sec|min/);
      await expectNoSeriousA11yViolations(page);
      await shoot(page, 'chat');
    });

    it('Esc stops a reply mid-stream, and the partial reply is kept', async () => {
      const sessionId = /#\/s\/(.+)$/.exec(page.url())![1];
      await composer().fill('Write a long one [words:400][every:25]');
      await composer().press('Enter');
      await page.getByRole('button', { name: 'Stop' }).waitFor();
      await page.locator('.message.assistant', { hasText: 'w3' }).waitFor();
      await page.keyboard.press('Escape');
      await page.getByRole('button', { name: 'Send' }).waitFor();
      // The reply to this question (the one before it finished normally), once the server has saved it.
      const [saved] = await until(
        () =>
          t.sql.query<{ content: string; metadata: { finish_reason?: string } | null }>(
            `SELECT a.content, a.metadata FROM chat_messages a
               JOIN chat_messages q ON q.message_id = a.parent_id
              WHERE a.session_id = $1 AND a.role = 'assistant' AND q.content LIKE 'Write a long one%'`,
            [sessionId],
          ),
        (rows) => rows.length > 0 && rows[0].metadata?.finish_reason !== undefined,
      );
      // Stopped on the server (POST …/stop): closing the stream alone would let the reply finish, to be resumed.
      expect(saved.metadata?.finish_reason).toBe('stopped');
      expect(saved.content).toMatch(/^w1 w2 w3/);
      expect(saved.content).not.toContain('w400');
    });

    it('renames in place, archives and restores, and deletes only after a confirmation', async () => {
      const row = page.locator('.session').first();
      await row.getByRole('button', { name: /^Rename/ }).click();
      await page.getByLabel('New title').fill('Lighthouse story');
      await page.getByRole('button', { name: 'Save' }).click();
      await page.locator('.session-title', { hasText: 'Lighthouse story' }).waitFor();

      await page.getByRole('button', { name: 'Archive Lighthouse story' }).click();
      await page.getByText('No sessions yet.').waitFor();
      await page.getByRole('button', { name: 'Archived', exact: true }).click();
      await page.getByRole('button', { name: 'Restore Lighthouse story' }).click();
      await page.getByText('No archived sessions.').waitFor();
      await page.getByRole('button', { name: 'Active', exact: true }).click();
      await page.locator('.session-title', { hasText: 'Lighthouse story' }).waitFor();

      // A second session to delete: the first stays for the sign-in round trip below.
      await page.getByRole('button', { name: '+ New chat' }).click();
      await composer().fill('A throwaway question');
      await composer().press('Enter');
      await page.locator('.message.assistant', { hasText: FAKE_REPLY }).waitFor();
      const doomed = page.locator('.session', { hasText: 'throwaway' }).first();
      await doomed.waitFor();
      await doomed.getByRole('button', { name: /^Delete/ }).click();
      await doomed.getByRole('button', { name: 'Keep' }).click();
      await doomed.getByRole('button', { name: /^Delete/ }).click();
      await doomed
        .getByRole('group', { name: 'Confirm deletion' })
        .getByRole('button', { name: 'Delete' })
        .click();
      await page.locator('.session', { hasText: 'throwaway' }).waitFor({ state: 'detached' });
      expect(await page.locator('.session').count()).toBe(1);
    });

    it('exports the open session and everything, as downloads', async () => {
      await page.locator('.session-title', { hasText: 'Lighthouse story' }).click();
      await page.locator('.message.user', { hasText: 'Plan a short story' }).waitFor();
      await page.locator('.chat-tools summary', { hasText: 'Export' }).click();
      const [markdown] = await Promise.all([
        page.waitForEvent('download'),
        page
          .getByRole('group', { name: 'Export this session' })
          .getByRole('button', { name: 'Markdown' })
          .click(),
      ]);
      expect(markdown.suggestedFilename()).toMatch(/\.md$/);
      expect(readFileSync((await markdown.path())!, 'utf8')).toContain('Plan a short story');
      await page.locator('.chat-tools summary').click();

      await page.locator('.topbar summary', { hasText: 'Export all' }).click();
      const [everything] = await Promise.all([
        page.waitForEvent('download'),
        page
          .getByRole('group', { name: 'Export every session' })
          .getByRole('button', { name: 'JSON' })
          .click(),
      ]);
      expect(everything.suggestedFilename()).toMatch(/\.json$/);
      const exported = readFileSync((await everything.path())!, 'utf8');
      expect(exported).toContain('Lighthouse story');
      await page.locator('.topbar summary').click();
    });

    tree.it(
      `edits a question and regenerates an answer, with a ‹ 1/2 › switch between versions${tree.note}`,
      async () => {
        await page.getByRole('button', { name: '+ New chat' }).click();
        await composer().fill('First question');
        await composer().press('Enter');
        const reply = page.locator('.message.assistant').last();
        await reply.getByRole('button', { name: 'Regenerate' }).waitFor();
        await reply.getByRole('button', { name: 'Regenerate' }).click();
        await page.getByRole('group', { name: 'Reply: version 2 of 2' }).waitFor();
        await page.getByRole('button', { name: 'Previous version of this reply' }).click();
        await page.getByRole('group', { name: 'Reply: version 1 of 2' }).waitFor();

        const question = page.locator('.message.user').last();
        await question.getByRole('button', { name: 'Edit' }).click();
        await page.getByLabel('Edit your message').fill('Second question');
        await page.getByRole('button', { name: 'Send edit' }).click();
        await page.getByRole('group', { name: 'Your message: version 2 of 2' }).waitFor();
        expect(await page.locator('.message.user').last().textContent()).toContain('Second question');
        await page.locator('.message.assistant', { hasText: FAKE_REPLY }).last().waitFor();
        await shoot(page, 'branches');
        await page.getByRole('button', { name: 'Previous version of this message' }).click();
        await page.getByRole('group', { name: 'Your message: version 1 of 2' }).waitFor();
        expect(await page.locator('.message.user').last().textContent()).toContain('First question');
      },
    );

    resumable.it(
      `a reload mid-reply resumes it, and Stop ends it on the server${resumable.note}`,
      async () => {
        await page.getByRole('button', { name: '+ New chat' }).click();
        await composer().fill('Keep going [words:300][every:40]');
        await composer().press('Enter');
        await page.locator('.message.assistant', { hasText: 'w3' }).waitFor();
        await until(async () => /#\/s\//.test(page.url()), Boolean);
        const sessionId = /#\/s\/(.+)$/.exec(page.url())![1];
        await page.reload();
        await page.locator('.message.assistant', { hasText: 'w20' }).waitFor();
        await page.getByRole('button', { name: 'Stop' }).click();
        await page.getByRole('button', { name: 'Send' }).waitFor();
        const [saved] = await until(
          () =>
            t.sql.query<{ content: string; metadata: { finish_reason?: string } | null }>(
              `SELECT content, metadata FROM chat_messages WHERE session_id = $1 AND role = 'assistant'`,
              [sessionId],
            ),
          (rows) => rows.length > 0 && rows[0].metadata?.finish_reason !== undefined,
        );
        expect(saved.metadata?.finish_reason).toBe('stopped');
        expect(saved.content).toMatch(/^w1 w2 w3 /);
        expect(saved.content).not.toContain('w300');
      },
    );

    it('a reply containing <script>, event handlers or javascript: links renders inert; code blocks render', async () => {
      const userId = await signedInUserId();
      const headers = { 'x-user-id': userId };
      const session = await createSession(
        t.app,
        { user_id: userId, email: null, display_name: 'Ada', headers },
        {
          title: 'Hostile reply',
        },
      );
      await addMessages(t.sql, session.session_id, [
        { role: 'user', content: 'Show me HTML' },
        {
          role: 'assistant',
          content: [
            'Here: <script>window.__xss = "script"</script>',
            '<img src="x" onerror="window.__xss = \'img\'">',
            '[click me](javascript:window.__xss=%22link%22) and [safe](https://example.com/)',
            '',
            '```js',
            'const answer = 42;',
            '```',
          ].join('\n'),
        },
      ]);
      await page.goto(`/#/s/${session.session_id}`);
      const reply = page.locator('.message.assistant .markdown');
      await reply.waitFor();
      expect(await reply.locator('script, img, [onerror]').count()).toBe(0);
      expect(await reply.textContent()).toContain('<script>');
      const hrefs = await reply.locator('a').evaluateAll((links) => links.map((a) => a.getAttribute('href')));
      expect(hrefs.every((href) => href === null || !/^\s*javascript:/i.test(href))).toBe(true);
      expect(hrefs).toContain('https://example.com/');
      for (const link of await reply.locator('a').all())
        await link.click({ modifiers: [] }).catch(() => undefined);
      expect(await reply.locator('pre code').textContent()).toContain('const answer = 42;');
      expect(await page.evaluate<unknown>('window.__xss')).toBeUndefined();
    });

    it('a 10,000-message session loads only its newest page, and older pages as it scrolls up', async () => {
      const userId = await signedInUserId();
      const session = await createSession(
        t.app,
        { user_id: userId, email: null, display_name: 'Ada', headers: { 'x-user-id': userId } },
        { title: 'Ten thousand' },
      );
      await addLongConversation(t, session.session_id, userId, 10_000);
      const pages: string[] = [];
      const track = (request: { url(): string }) => {
        if (request.url().includes(`/sessions/${session.session_id}/messages`)) pages.push(request.url());
      };
      page.on('request', track);
      await page.goto(`/#/s/${session.session_id}`);
      await page.locator('.message', { hasText: 'message 10000' }).waitFor();
      expect(pages).toHaveLength(1);
      expect(pages[0]).toMatch(/latest=true/);
      expect(await page.locator('.message').count()).toBe(50);
      await page.locator('.messages').evaluate((box) => (box.scrollTop = 0));
      await page.locator('.message', { hasText: 'message 9950' }).waitFor();
      expect(pages).toHaveLength(2);
      expect(pages[1]).toMatch(/before=/);
      expect(await page.locator('.message').count()).toBe(100);
      page.off('request', track);
    });

    it('a failed reply is shown in place with a retry, and the retry answers', async () => {
      await page.goto('/#/');
      await page.getByRole('button', { name: '+ New chat' }).click();
      await composer().fill('Tell me a secret [fail-once]');
      await composer().press('Enter');
      const alert = page.locator('.error.in-place');
      await alert.waitFor();
      expect(await alert.textContent()).toMatch(/model|provider/i);
      await alert.getByRole('button', { name: 'Retry' }).click();
      await page.locator('.message.assistant', { hasText: FAKE_REPLY }).waitFor();
      expect(await page.locator('.error.in-place').count()).toBe(0);

      await context.setOffline(true);
      await composer().fill('Are you there?');
      await composer().press('Enter');
      await page.locator('.error.in-place', { hasText: /offline/i }).waitFor();
      await context.setOffline(false);
      await page.locator('.error.in-place').getByRole('button', { name: 'Retry' }).click();
      await until(
        () => page.locator('.message.assistant', { hasText: FAKE_REPLY }).count(),
        (n) => n === 2,
      );
    });

    it('works at phone width (the session list opens from the menu) and follows the system dark mode', async () => {
      const phone = await browser.newContext({
        baseURL: baseUrl,
        viewport: { width: 390, height: 780 },
        colorScheme: 'dark',
        storageState: await context.storageState(),
      });
      const small = await phone.newPage();
      await small.goto('/');
      await small.getByRole('heading', { name: 'What are you writing?' }).waitFor();
      expect(await small.locator('.sidebar').isVisible()).toBe(false);
      const background = await small.evaluate<string>(
        'getComputedStyle(document.documentElement).backgroundColor',
      );
      expect(background).toBe('rgb(21, 23, 27)');
      await shoot(small, 'phone-dark');
      await small.getByRole('button', { name: 'Open the session list' }).click();
      await small.locator('.sidebar').waitFor({ state: 'visible' });
      await small.locator('.session-title', { hasText: 'Lighthouse story' }).waitFor();
      await shoot(small, 'phone-sessions');
      await expectNoSeriousA11yViolations(small);
      await phone.close();
    });

    it('signing out returns to the picker, which offers the same user; choosing it shows the history', async () => {
      await page.goto('/');
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('heading', { name: 'Continue as' }).waitFor();
      await page.getByRole('button', { name: /^Ada/ }).click();
      await page.locator('.session-title', { hasText: 'Lighthouse story' }).click();
      await page.locator('.message.user', { hasText: 'Plan a short story' }).waitFor();
      await page.locator('.message.assistant', { hasText: FAKE_REPLY }).first().waitFor();
      expect(existsSync(WEB_DIST_DIR)).toBe(true);
    });

    it('settings: the profile’s display name is saved and shown', async () => {
      await page.getByRole('link', { name: 'Settings' }).click();
      await page.getByRole('heading', { name: 'Settings' }).waitFor();
      await page.getByLabel('Display name').fill('Ada Lovelace');
      await page.getByRole('button', { name: 'Save profile' }).click();
      await page.getByRole('status').filter({ hasText: 'Profile saved.' }).waitFor();
      expect(await page.locator('.who').textContent()).toBe('Ada Lovelace');
    });

    search.it(
      `search finds messages with highlighted snippets, and a hit opens its session at the message${search.note}`,
      async () => {
        await page.getByLabel('Search all sessions').fill('lighthouse');
        await page.getByLabel('Search all sessions').press('Enter');
        await page.getByRole('heading', { name: 'Results for “lighthouse”' }).waitFor();
        const hit = page.locator('.search-results li', { hasText: 'Plan a short story' }).first();
        await hit.waitFor();
        expect(await hit.locator('mark').first().textContent()).toMatch(/lighthouse/i);
        await expectNoSeriousA11yViolations(page);
        await shoot(page, 'search');
        await hit.locator('a').click();
        await page.locator('.message.focused', { hasText: 'about a lighthouse' }).waitFor();
        expect(page.url()).toMatch(/#\/s\/[0-9a-f-]{36}\?m=[0-9a-f-]{36}$/);
      },
    );

    accounts.it(
      `an account: register, chat, sign out, sign in again and see the history; a reload stays signed in${accounts.note}`,
      async () => {
        await page.getByRole('button', { name: 'Sign out' }).click();
        await page.getByRole('button', { name: 'Sign in with an account instead' }).click();
        await page.getByRole('button', { name: 'Create account', exact: true }).click();
        await expectNoSeriousA11yViolations(page);
        await page.getByLabel('Display name').fill('Grace');
        await page.getByLabel('Email').fill('grace@example.test');
        await page.getByLabel('Password').fill('a long passphrase');
        await page.getByRole('button', { name: 'Create account and sign in' }).click();
        await page.getByRole('heading', { name: 'What are you writing?' }).waitFor();
        expect(await page.locator('.who').textContent()).toBe('Grace');
        await composer().fill('Notes on compilers');
        await composer().press('Enter');
        await page.locator('.message.assistant', { hasText: FAKE_REPLY }).waitFor();

        await page.reload();
        await page.locator('.session-title', { hasText: 'Notes on compilers' }).waitFor();
        expect(await page.locator('.who').textContent()).toBe('Grace');

        await page.getByRole('button', { name: 'Sign out' }).click();
        await page.getByRole('heading', { name: 'Sign in' }).waitFor();
        await page.reload();
        await page.getByRole('heading', { name: 'Sign in' }).waitFor();
        await page.getByLabel('Email').fill('grace@example.test');
        await page.getByLabel('Password').fill('a long passphrase');
        await page.locator('form').getByRole('button', { name: 'Sign in', exact: true }).click();
        await page.locator('.session-title', { hasText: 'Notes on compilers' }).click();
        await page.locator('.message.user', { hasText: 'Notes on compilers' }).waitFor();
        await page.locator('.message.assistant', { hasText: FAKE_REPLY }).waitFor();
      },
    );
  },
);
