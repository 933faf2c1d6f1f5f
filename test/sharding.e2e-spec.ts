/**
 * Keeps docs/scaling.md's sharding claim honest (issue 17 §4): the hot routes (the benchmark's scenarios) are
 * sent once each, with bench/trace-sql.ts recording every statement Parley sends through `pg` (the SQL trace
 * the benchmark harness already uses), and every statement of every request transaction must either filter by
 * the distribution column `user_id` (a `user_id = $n` predicate, an insert naming `user_id`, the context
 * statement's `app.assert_user_exists($n)`, or `get_user_sessions($n, ...)`), or be one of the statements
 * docs/scaling.md lists as not routed yet, each with the change it needs. The list must be exact: a
 * statement it does not name fails, and so does a listed one that no longer occurs. Statements outside request
 * transactions (the instance heartbeat, background batches) must be in the document's background list.
 *
 * Server run only: the trace records what `pg` sends; the embedded database has no `pg` connection.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createUser } from './support/factories.js';
import { createTestApp, SERVER_URL, type TestApp } from './support/test-app.js';

const skipReason = SERVER_URL ? undefined : 'needs TEST_DATABASE_URL: the SQL trace records what pg sends';

/** The fragments listed between `<!-- sharding:<name>:start -->` and `:end -->` in docs/scaling.md (backticked, first column). */
async function documented(name: string): Promise<string[]> {
  const doc = await readFile(new URL('../docs/scaling.md', import.meta.url), 'utf8');
  const start = doc.indexOf(`<!-- sharding:${name}:start -->`);
  const end = doc.indexOf(`<!-- sharding:${name}:end -->`);
  if (start < 0 || end < start) throw new Error(`docs/scaling.md has no sharding:${name} list`);
  return doc
    .slice(start, end)
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => /^\| `([^`]+)`/.exec(line)![1]);
}

const normalize = (sql: string) => sql.replace(/\s+/g, ' ').trim();

/** Whether a statement names the distribution column's value. */
function filtersByUser(sql: string): boolean {
  return (
    /\buser_id\s*=\s*\$\d+/.test(sql) ||
    /app\.assert_user_exists\(\$\d+/.test(sql) ||
    /get_user_sessions\(\$\d+/.test(sql) ||
    /^INSERT INTO \w+ \([^)]*\buser_id\b/.test(sql)
  );
}

(skipReason ? describe.skip : describe)(
  `hot queries and the distribution column (${skipReason ? `[skipped: ${skipReason}]` : 'server run'})`,
  () => {
    let app: TestApp;
    let dir: string;
    let traceFile: string;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'parley-sql-trace-'));
      traceFile = join(dir, 'trace.jsonl');
      await writeFile(traceFile, '');
      process.env.BENCH_SQL_TRACE = traceFile;
      await import('../bench/trace-sql.js'); // patches pg.Client for this file's modules
      app = await createTestApp({ RATE_LIMIT_ENABLED: 'false' });
    }, 60_000);

    afterAll(async () => {
      delete process.env.BENCH_SQL_TRACE;
      await app?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('every statement of a hot route filters by user_id, or docs/scaling.md names it and its change', async () => {
      const user = await createUser(app.app);
      const inject = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: object) =>
        app.app.inject({ method, url, headers: user.headers, ...(payload ? { payload } : {}) });
      const first = await inject('POST', '/api/v1/chat?stream=false', { text: 'Start a story' });
      const { session_id: sessionId, project_id: projectId } = first.json().session;
      const latest = await inject('GET', `/api/v1/sessions/${sessionId}/messages?latest=true&limit=1`);
      const cursor = (await inject('GET', '/api/v1/sessions?limit=1')).json().next_cursor;

      // The benchmark's scenarios (bench/scenarios.ts), one request each.
      const routes: Array<[string, 'GET' | 'POST' | 'PUT', string, object?]> = [
        ['users-me', 'GET', '/api/v1/users/me'],
        ['projects-list', 'GET', '/api/v1/projects'],
        ['project-get', 'GET', `/api/v1/projects/${projectId}`],
        ['list-10', 'GET', '/api/v1/sessions?limit=10'],
        ['list-10-cursor', 'GET', `/api/v1/sessions?limit=10${cursor ? `&cursor=${cursor}` : ''}`],
        ['messages-first', 'GET', `/api/v1/sessions/${sessionId}/messages?limit=50`],
        [
          'messages-cursor',
          'GET',
          `/api/v1/sessions/${sessionId}/messages?before=${latest.json().prev_before}`,
        ],
        ['rename', 'PUT', `/api/v1/sessions/${sessionId}/title`, { title: 'Renamed' }],
        ['chat-json', 'POST', '/api/v1/chat?stream=false', { text: 'Continue', session_id: sessionId }],
        ['chat-sse', 'POST', '/api/v1/chat', { text: 'And then?', session_id: sessionId }],
      ];
      const inRequests = new Map<string, Set<string>>();
      const outside = new Set<string>();
      for (const [id, method, url, payload] of routes) {
        await writeFile(traceFile, '');
        const response = await inject(method, url, payload);
        expect({ id, status: response.statusCode }).toEqual({ id, status: 200 });
        await sleep(200); // a stream's last statements land just after its last byte
        const statements = (await readFile(traceFile, 'utf8'))
          .split('\n')
          .filter(Boolean)
          .map((line) => normalize(JSON.parse(line) as string));
        // Request transactions: BEGIN, then the caller's context statement, up to COMMIT/ROLLBACK.
        let inRequest = false;
        for (let i = 0; i < statements.length; i++) {
          const sql = statements[i];
          if (sql === 'BEGIN') {
            inRequest = /app\.assert_user_exists|set_config\('role'/.test(statements[i + 1] ?? '');
            if (!inRequest) outside.add(sql);
            continue;
          }
          if (/^(COMMIT|ROLLBACK)$/.test(sql)) {
            inRequest = false;
            continue;
          }
          if (inRequest) {
            if (!inRequests.has(sql)) inRequests.set(sql, new Set());
            inRequests.get(sql)!.add(id);
          } else outside.add(sql);
        }
      }

      const notRouted = await documented('not-routed');
      const background = await documented('background');
      const undocumented: string[] = [];
      const seen = new Set<string>();
      // The trace is global: background statements of other connections can land between a request's.
      const isBackground = (sql: string) => background.some((f) => sql.includes(f));
      for (const [sql, ids] of inRequests) {
        if (filtersByUser(sql) || isBackground(sql)) continue;
        const fragment = notRouted.find((f) => sql.includes(f));
        if (fragment) seen.add(fragment);
        else undocumented.push(`${[...ids].join(', ')}: ${sql}`);
      }
      expect(undocumented).toEqual([]);
      // The list is not stale: every statement it names still occurs on a hot route.
      expect(notRouted.filter((f) => !seen.has(f))).toEqual([]);
      // Statements outside request transactions are the documented background work.
      expect([...outside].filter((sql) => !isBackground(sql))).toEqual([]);
    }, 60_000);
  },
);
