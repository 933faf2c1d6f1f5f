/**
 * Read replicas with read-your-writes (issue 17 §1), on a real streaming replica: the test makes a throw-away
 * primary (initdb) and a replica of it (pg_basebackup -R, another port, its own temporary directory), and
 * runs Parley with DATABASE_URL on the primary and DATABASE_REPLICA_URLS on the replica.
 *
 * Which server answered is made visible by pausing the replica's replay (pg_wal_replay_pause()) and
 * changing a row on the primary behind Parley's back (the maintenance connection: no user's write is
 * remembered for it): a read that shows the old value came from the replica, the new one from the primary.
 *
 * Proves: session lists and message pages reach the replica; a user's own write is visible to them on
 * their next request (the replica has not replayed it, so the primary answers) while other users keep
 * reading the replica, and the writer returns to the replica once it has replayed the write; a replica
 * lagging past REPLICA_MAX_LAG_MS is skipped; readiness reports the replica apart (up, lagging, down) and
 * stays 200; stopping the replica under load changes nothing for clients (every request 2xx), and it is
 * used again once it is back.
 *
 * Server run only (the embedded database has no replicas). Missing PostgreSQL binaries skip it with the
 * reason, except under CI=true, where they fail it.
 */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { createApp } from '../src/app.factory.js';
import { loadConfig } from '../src/config/app-config.js';
import { DatabaseService } from '../src/database/database.service.js';
import { parseLsn } from '../src/database/replicas.js';
import { createUser, type TestUser } from './support/factories.js';
import { SERVER_URL } from './support/test-app.js';
import { ThrowawayPostgres, throwawayPostgresUnavailable } from './support/throwaway-postgres.js';

const missing = SERVER_URL ? throwawayPostgresUnavailable() : undefined;
const skipReason = !SERVER_URL ? 'needs TEST_DATABASE_URL: the embedded database has no replicas' : missing;

/** Polls `condition` until it holds (no time bound of its own: jest's timeout fails a test that never gets there). */
async function until(condition: () => Promise<boolean> | boolean, everyMs = 50): Promise<void> {
  while (!(await condition())) await sleep(everyMs);
}

if (missing && process.env.CI === 'true')
  describe('read replicas (server run)', () => {
    it('needs the PostgreSQL binaries in CI', () => {
      throw new Error(`CI=true on the server run and no throw-away cluster can be made: ${missing}`);
    });
  });
else
  (skipReason ? describe.skip : describe)(
    `read replicas on a real streaming replica (${skipReason ? `[skipped: ${skipReason}]` : 'server run'})`,
    () => {
      let primary: ThrowawayPostgres;
      let replica: ThrowawayPostgres;
      /** Parley with a lag bound no test reaches: which server answers depends on writes only. */
      let app: NestFastifyApplication;
      /** Parley with a short lag bound, on the same primary and replica. */
      let strict: NestFastifyApplication;
      let admin: pg.Client;
      let replicaAdmin: pg.Client;

      const start = async (maxLagMs: number) => {
        const instance = await createApp(
          loadConfig({
            NODE_ENV: 'test',
            LOG_LEVEL: 'fatal',
            DATABASE_URL: primary.url,
            DATABASE_REPLICA_URLS: replica.url,
            REPLICA_MAX_LAG_MS: String(maxLagMs),
            DB_POOL_MAX: '4',
            DB_CONNECT_TIMEOUT_MS: '1000',
            RATE_LIMIT_ENABLED: 'false',
            SWAGGER_ENABLED: 'false',
          }),
        );
        await instance.init();
        await instance.getHttpAdapter().getInstance().ready();
        return instance;
      };

      beforeAll(async () => {
        primary = await ThrowawayPostgres.create();
        replica = await primary.createReplica();
        app = await start(600_000);
        strict = await start(400);
        admin = new pg.Client({ connectionString: primary.url });
        await admin.connect();
        replicaAdmin = new pg.Client({ connectionString: replica.url });
        replicaAdmin.on('error', () => undefined); // the replica is stopped on purpose below
        await replicaAdmin.connect();
      }, 180_000);

      afterAll(async () => {
        await replicaAdmin?.query('SELECT pg_wal_replay_resume()').catch(() => undefined);
        await replicaAdmin?.end().catch(() => undefined);
        await admin?.end().catch(() => undefined);
        await strict?.close().catch(() => undefined);
        await app?.close().catch(() => undefined);
        await replica?.destroy();
        await primary?.destroy();
      }, 60_000);

      const get = (user: TestUser, url: string, on = app) =>
        on.inject({ method: 'GET', url, headers: user.headers });
      const titles = async (user: TestUser, on = app) =>
        (await get(user, '/api/v1/sessions', on)).json().data.map((s: { title: string }) => s.title);

      /** Until the replica has replayed everything the primary has now, and `on` has seen it do so. */
      async function replicaCaughtUp(on = app): Promise<void> {
        const { rows } = await admin.query<{ lsn: string }>(
          'SELECT pg_current_wal_insert_lsn()::text AS lsn',
        );
        const target = parseLsn(rows[0].lsn);
        await until(async () => {
          const { rows: r } = await replicaAdmin.query<{ lsn: string }>(
            'SELECT pg_last_wal_replay_lsn()::text AS lsn',
          );
          return parseLsn(r[0].lsn) >= target;
        });
        const db = on.get(DatabaseService);
        await until(async () => {
          await db.checkReplicasNow();
          const [status] = db.replicaStatus() ?? [];
          return status?.status === 'up' && status.replayLsn !== null && parseLsn(status.replayLsn) >= target;
        });
      }

      async function pauseReplay(): Promise<void> {
        await replicaAdmin.query('SELECT pg_wal_replay_pause()');
        await until(async () => {
          const { rows } = await replicaAdmin.query<{ state: string }>(
            'SELECT pg_get_wal_replay_pause_state() AS state',
          );
          return rows[0].state === 'paused';
        });
      }
      const resumeReplay = () => replicaAdmin.query('SELECT pg_wal_replay_resume()');

      /** A user with one session of two messages, replicated. */
      async function arrange(name: string): Promise<{ user: TestUser; sessionId: string }> {
        const user = await createUser(app, { display_name: name });
        const chat = await app.inject({
          method: 'POST',
          url: '/api/v1/chat?stream=false',
          headers: user.headers,
          payload: { text: `${name} writes` },
        });
        expect(chat.statusCode).toBe(200);
        const sessionId = chat.json().session.session_id;
        await app.inject({
          method: 'PUT',
          url: `/api/v1/sessions/${sessionId}/title`,
          headers: user.headers,
          payload: { title: `${name} v1` },
        });
        return { user, sessionId };
      }

      it('reports the replica apart in readiness, up', async () => {
        await replicaCaughtUp();
        const ready = await app.inject({ method: 'GET', url: '/health/ready' });
        expect(ready.statusCode).toBe(200);
        expect(ready.json().checks).toEqual({
          database: 'up',
          migrations: 'up',
          replicas: [{ name: 'replica-1', status: 'up', lag_ms: expect.any(Number) }],
        });
      });

      it('reads session lists and message pages from the replica; a write is visible to its writer on the next request', async () => {
        const ada = await arrange('Ada');
        const bob = await arrange('Bob');
        await replicaCaughtUp();
        await pauseReplay();
        try {
          // Behind Parley's back, on the primary: nobody's write is remembered for these.
          await admin.query(
            `UPDATE sessions SET title = title || ' (primary)' WHERE session_id = ANY($1::uuid[])`,
            [[ada.sessionId, bob.sessionId]],
          );
          await admin.query(
            `INSERT INTO chat_messages (session_id, role, content) VALUES ($1, 'user', 'only on the primary')`,
            [ada.sessionId],
          );
          // Both read the replica: the old state.
          expect(await titles(ada.user)).toEqual(['Ada v1']);
          expect(await titles(bob.user)).toEqual(['Bob v1']);
          const page = await get(ada.user, `/api/v1/sessions/${ada.sessionId}/messages?latest=true`);
          expect(page.json().total).toBe(2);
          expect(page.json().data.map((m: { content: string }) => m.content)).not.toContain(
            'only on the primary',
          );

          // Ada writes; her next request sees it (the replica has not replayed it: the primary answers).
          const renamed = await app.inject({
            method: 'PUT',
            url: `/api/v1/sessions/${ada.sessionId}/title`,
            headers: ada.user.headers,
            payload: { title: 'Ada v2' },
          });
          expect(renamed.statusCode).toBe(200);
          expect(await titles(ada.user)).toEqual(['Ada v2']);
          const fresh = await get(ada.user, `/api/v1/sessions/${ada.sessionId}/messages?latest=true`);
          expect(fresh.json().total).toBe(3);
          // Bob wrote nothing since: he still reads the replica.
          expect(await titles(bob.user)).toEqual(['Bob v1']);
        } finally {
          await resumeReplay();
        }
        // Once the replica has replayed Ada's write, her reads go back to it.
        await replicaCaughtUp();
        await pauseReplay();
        try {
          await admin.query(`UPDATE sessions SET title = 'Ada v3' WHERE session_id = $1`, [ada.sessionId]);
          expect(await titles(ada.user)).toEqual(['Ada v2']);
        } finally {
          await resumeReplay();
        }
        await replicaCaughtUp();
        expect(await titles(ada.user)).toEqual(['Ada v3']);
      }, 60_000);

      it('skips a replica lagging past REPLICA_MAX_LAG_MS, and reports it lagging', async () => {
        const carol = await arrange('Carol');
        await replicaCaughtUp(strict);
        await replicaCaughtUp(app); // both instances have seen the replica pass Carol's writes
        await pauseReplay();
        try {
          await admin.query(`UPDATE sessions SET title = 'Carol on the primary' WHERE session_id = $1`, [
            carol.sessionId,
          ]);
          const db = strict.get(DatabaseService);
          await until(async () => {
            await db.checkReplicasNow();
            return db.replicaStatus()?.[0].status === 'lagging';
          });
          expect(await titles(carol.user, strict)).toEqual(['Carol on the primary']);
          // The lenient instance still reads the replica.
          expect(await titles(carol.user, app)).toEqual(['Carol v1']);
          const ready = await strict.inject({ method: 'GET', url: '/health/ready' });
          expect(ready.statusCode).toBe(200);
          expect(ready.json().checks.replicas).toEqual([
            { name: 'replica-1', status: 'lagging', lag_ms: expect.any(Number) },
          ]);
          expect(ready.json().checks.replicas[0].lag_ms).toBeGreaterThan(400);
        } finally {
          await resumeReplay();
        }
      }, 60_000);

      it('a replica that stops under load changes nothing for clients, and is used again once back', async () => {
        const users = await Promise.all(['D', 'E', 'F', 'G'].map((n) => arrange(n)));
        await replicaCaughtUp();
        const statuses: number[] = [];
        let stop = false;
        let requests = 0;
        const worker = async (i: number) => {
          const { user, sessionId } = users[i];
          while (!stop) {
            const list = await get(user, '/api/v1/sessions');
            const page = await get(user, `/api/v1/sessions/${sessionId}/messages?latest=true`);
            statuses.push(list.statusCode, page.statusCode);
            requests += 2;
          }
        };
        const load = Promise.all(users.map((_, i) => worker(i)));
        await until(() => requests >= 40);
        await replica.stop('immediate');
        const atStop = requests;
        await until(() => requests >= atStop + 80);
        const ready = await app.inject({ method: 'GET', url: '/health/ready' });
        stop = true;
        await load;
        expect(statuses.filter((s) => s !== 200)).toEqual([]);
        expect(ready.statusCode).toBe(200);
        expect(ready.json().checks.replicas).toEqual([{ name: 'replica-1', status: 'down', lag_ms: null }]);

        await replica.start();
        await replicaAdmin.end().catch(() => undefined);
        replicaAdmin = new pg.Client({ connectionString: replica.url });
        replicaAdmin.on('error', () => undefined); // the replica is stopped on purpose below
        await replicaAdmin.connect();
        await replicaCaughtUp();
        // Used again: a change on the primary it has not replayed is not seen.
        await pauseReplay();
        try {
          await admin.query(`UPDATE sessions SET title = 'D on the primary' WHERE session_id = $1`, [
            users[0].sessionId,
          ]);
          expect(await titles(users[0].user)).toEqual(['D v1']);
        } finally {
          await resumeReplay();
        }
      }, 90_000);
    },
  );
