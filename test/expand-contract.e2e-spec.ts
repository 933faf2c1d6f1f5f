/**
 * Expand/contract (issue 17 §3): during a rolling upgrade, instances of the previous release run on the new
 * schema. docs/operations.md states the rule for every migration; this file checks it.
 *
 *  - The migrator of this release starts on a database that has a later release's migration applied (an
 *    instance restarted during a rollout, or a rollback): it skips it, applies nothing, readiness is not
 *    held back by it. Both databases.
 *  - The previous release, built from git (the parent of the newest commit that added a migration, so its
 *    code has never seen at least one migration of this tree), runs against a database migrated by this
 *    tree: its read and chat routes answer, a conversation it writes reads back through this release and
 *    one this release writes reads back through it, and the database invariants hold. Its source comes from
 *    `git archive` into a temporary directory, beside this tree's node_modules (its Prisma client generated
 *    there from its own schema), and it runs as src/main.ts through its own SWC loader, as the shutdown test
 *    runs this release. Server run only; skipped with the reason where the checkout has no such history
 *    (a shallow clone).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { migrate, migrationStatus, readMigrations } from '../src/database/migrator.js';
import { pgExecutor } from '../src/database/sql-executor.js';
import { findInvariantViolations } from './support/db-invariants.js';
import {
  startServiceProcess as startService,
  stopServiceProcess,
  type ServiceProcess,
} from './support/service-process.js';
import { createTestDatabase, openEmptyDatabase, SERVER_URL, type TestDatabase } from './support/test-app.js';

const run = promisify(execFile);

describe('a later release has migrated the database', () => {
  it("this release's migrator skips the later migration and finds nothing pending (both databases)", async () => {
    const { sql, close } = await openEmptyDatabase();
    try {
      const first = await migrate(sql);
      expect(first.applied).toHaveLength((await readMigrations()).length);
      await sql.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
         VALUES (gen_random_uuid()::text, 'later', '99991231000000_a_later_release', now(), now(), 1)`,
      );
      const again = await migrate(sql);
      expect(again).toEqual({
        applied: [],
        alreadyApplied: first.applied.length,
        newer: ['99991231000000_a_later_release'],
      });
      expect((await migrationStatus(sql)).pending).toEqual([]);
      // A migration that is not newer than this release's own was removed or renamed: still refused.
      await sql.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
         VALUES (gen_random_uuid()::text, 'gone', '20000101000000_removed', now(), now(), 1)`,
      );
      await expect(migrate(sql)).rejects.toThrow(
        /20000101000000_removed is applied to the database but missing/,
      );
    } finally {
      await close();
    }
  });
});

/** The previous release's commit, or why there is none to test. */
async function previousRelease(): Promise<{ commit: string; newest: string } | { reason: string }> {
  try {
    const { stdout: newest } = await run('git', [
      'log',
      '-1',
      '--format=%H',
      '--diff-filter=A',
      '--',
      'prisma/migrations',
    ]);
    if (!newest.trim()) return { reason: 'no commit in this checkout added a migration' };
    const { stdout: parent } = await run('git', ['rev-parse', '--verify', '--quiet', `${newest.trim()}^`]);
    return { commit: parent.trim(), newest: newest.trim() };
  } catch (error) {
    return {
      reason: `no git history to build the previous release from (${(error as Error).message.split('\n')[0]})`,
    };
  }
}

const release = SERVER_URL ? await previousRelease() : undefined;
const skipReason = !SERVER_URL
  ? 'needs TEST_DATABASE_URL: two releases at once need a server'
  : release && 'reason' in release
    ? release.reason
    : undefined;

(skipReason ? describe.skip : describe)(
  `the previous release against the new migrations (${skipReason ? `[skipped: ${skipReason}]` : `server run`})`,
  () => {
    let dir: string;
    let database: TestDatabase;
    let previous: ServiceProcess;
    let current: ServiceProcess;
    let sql: pg.Client;
    const commit = release && 'commit' in release ? release.commit : '';

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'parley-previous-release-'));
      await run('sh', ['-c', `git archive --format=tar ${commit} | tar -x -C ${dir}`]);
      await symlink(join(process.cwd(), 'node_modules'), join(dir, 'node_modules'));
      await run(process.execPath, [join(process.cwd(), 'node_modules/prisma/build/index.js'), 'generate'], {
        cwd: dir,
        env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: '/bin/false' },
      });
      await run(process.execPath, ['scripts/generate-metadata.mjs'], { cwd: dir });
      database = await createTestDatabase();
      sql = new pg.Client({ connectionString: database.env.DATABASE_URL });
      await sql.connect();
      await migrate(pgExecutor(sql)); // this tree's migrations
      const env = { DATABASE_URL: database.env.DATABASE_URL, RATE_LIMIT_ENABLED: 'false' };
      [previous, current] = await Promise.all([
        // The previous release's own migrator would refuse migrations it does not know; the rollout runs them.
        startService({ ...env, DB_MIGRATE_ON_START: 'false' }, dir),
        startService({ ...env, DB_MIGRATE_ON_START: 'true' }),
      ]);
    }, 180_000);

    afterAll(async () => {
      await stopServiceProcess(previous).catch(() => undefined);
      await stopServiceProcess(current).catch(() => undefined);
      await sql?.end().catch(() => undefined);
      await database?.drop();
      if (dir) await rm(dir, { recursive: true, force: true });
    }, 60_000);

    const call = async (on: ServiceProcess, method: string, path: string, user?: string, body?: unknown) => {
      const response = await fetch(`${on.base}${path}`, {
        method,
        headers: {
          ...(user ? { 'x-user-id': user } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, text, json: () => JSON.parse(text) };
    };

    it('runs on a schema with migrations it has never seen', async () => {
      const { stdout } = await run('git', ['ls-tree', '--name-only', `${commit}:prisma/migrations`]);
      const known = new Set(stdout.split('\n').filter(Boolean));
      const unknown = (await readMigrations()).map((m) => m.name).filter((name) => !known.has(name));
      expect(unknown.length).toBeGreaterThan(0);
      expect((await call(previous, 'GET', '/health/live')).status).toBe(200);
    });

    it('serves the read and chat routes, and both releases read what the other wrote', async () => {
      const created = await call(previous, 'POST', '/api/v1/users', undefined, {
        display_name: 'Old client',
      });
      expect(created.status).toBe(201);
      const user = created.json().user_id as string;
      expect((await call(previous, 'GET', '/api/v1/users/me', user)).json().user_id).toBe(user);

      // The previous release chats (JSON, then streamed) and reads.
      const chat = await call(previous, 'POST', '/api/v1/chat?stream=false', user, {
        text: 'Written by the old release',
      });
      expect(chat.status).toBe(200);
      const sessionId = chat.json().session.session_id as string;
      const streamed = await call(previous, 'POST', '/api/v1/chat', user, {
        text: 'Streamed by it',
        session_id: sessionId,
      });
      expect(streamed.status).toBe(200);
      expect(streamed.text).toContain('data: [DONE]');
      expect(streamed.text).not.toMatch(/"type":"error"/);
      for (const path of [
        '/api/v1/sessions',
        `/api/v1/sessions/${sessionId}`,
        `/api/v1/sessions/${sessionId}/messages?latest=true`,
        '/api/v1/projects',
      ])
        expect({ path, status: (await call(previous, 'GET', path, user)).status }).toEqual({
          path,
          status: 200,
        });

      // This release continues the conversation and reads the old release's messages...
      const next = await call(current, 'POST', '/api/v1/chat?stream=false', user, {
        text: 'Continued by the new release',
        session_id: sessionId,
      });
      expect(next.status).toBe(200);
      const page = await call(current, 'GET', `/api/v1/sessions/${sessionId}/messages?latest=true`, user);
      expect(page.json().total).toBe(6);
      expect(page.json().data.map((m: { content: string }) => m.content)).toEqual(
        expect.arrayContaining([
          'Written by the old release',
          'Streamed by it',
          'Continued by the new release',
        ]),
      );
      // ...and the old release reads the new one's.
      const old = await call(previous, 'GET', `/api/v1/sessions/${sessionId}/messages?latest=true`, user);
      expect(old.status).toBe(200);
      expect(old.json().total).toBe(6);
      expect(old.json().data.map((m: { content: string }) => m.content)).toContain(
        'Continued by the new release',
      );
      const list = await call(previous, 'GET', '/api/v1/sessions', user);
      expect(list.json().data[0].message_count).toBe(6);

      expect(await findInvariantViolations(pgExecutor(sql))).toEqual([]);
    }, 60_000);
  },
);
