import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import type { AuthContext } from '../auth/auth-context.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { PrismaClient, type Prisma } from '../generated/prisma/client.js';
import { ADMIN_CONTEXT, APP_ROLE, CONTEXT_WITHOUT_CHECK, LEGACY_ROLE, USER_CONTEXT } from './context.sql.js';
import { appErrorFromDatabase, sqlStateOf } from '../common/sql-errors.js';
import { KnownUsers } from './known-users.js';
import { migrate } from './migrator.js';
import { ReplicaSet, type ReplicaStatus } from './replicas.js';
import {
  pgExecutor,
  pgliteExecutor,
  pgliteTransactionExecutor,
  queryAfter,
  type SqlExecutor,
  type Statement,
} from './sql-executor.js';
import { apiTimestamp, RAW_SQL_TYPES } from './timestamps.js';

declare const opaque: unique symbol;

/**
 * One request's transaction, in a caller's row-level-security context, as DatabaseService hands it to the
 * work and services hand it on to repositories. Opaque: a service cannot run SQL with it; a repository
 * unwraps it (prismaOf for Prisma, sqlOf for raw SQL).
 */
export type Tx = { readonly [opaque]: 'Tx' };

/** The Prisma client of a request's transaction. For repositories only. */
export function prismaOf(tx: Tx): Prisma.TransactionClient {
  return tx as unknown as Prisma.TransactionClient;
}

/** A Prisma client bound to a request's transaction, as the opaque Tx handed to the work. */
const asTx = (client: Prisma.TransactionClient): Tx => client as unknown as Tx;

/** Raw SQL inside a request's transaction (see sqlOf). */
export interface TxSql {
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<R[]>;
}

const rawSql = new WeakMap<object, TxSql>();

/**
 * The raw-SQL side of a transaction opened by asUser/asNewUser/asLegacy: the same connection, transaction
 * and row-level-security context as `tx`, without Prisma's query pipeline, which costs more CPU than a hot
 * read's query itself (docs/performance.md). For hot paths. Rows come from pg on PostgreSQL and from
 * Prisma's $queryRawUnsafe on the embedded database: cast bigint and numeric results to int or text in the
 * SQL so that both give the same JavaScript types. timestamptz columns come back as the API's ISO text
 * (timestamps.ts) on both.
 */
export function sqlOf(tx: Tx): TxSql {
  const sql = rawSql.get(tx);
  if (!sql) throw new Error('sqlOf() needs a transaction opened by DatabaseService');
  return sql;
}

/**
 * A pg.Pool (what PrismaPg takes) whose every query goes to one connection checked out of the real pool.
 * It never opens a connection: a Prisma operation that wanted a transaction of its own inside a request's
 * transaction fails loudly instead of running elsewhere.
 */
class ConnectionBoundPool extends pg.Pool {
  constructor(
    private readonly connection: pg.PoolClient,
    /** Sends the transaction's opening statements if they are still pending (see DatabaseService.open). */
    private readonly open: () => Promise<unknown> | undefined,
  ) {
    super({ max: 1 });
  }

  override query(...args: unknown[]): never {
    const send = () => (this.connection.query as (...a: unknown[]) => never).apply(this.connection, args);
    const opening = this.open();
    return (opening ? opening.then(send) : send()) as never;
  }

  override connect(): never {
    throw new Error('A Prisma operation tried to open a transaction inside a request transaction');
  }
}

const BEGIN: Statement = { text: 'BEGIN' };

/**
 * Behind a transaction pooler (DATABASE_DIRECT_URL set) the statement timeout cannot be a connection
 * parameter (PgBouncer refuses unknown startup parameters, and a session SET would stay on whichever server
 * connection ran it): each transaction sets it for itself, in the same round trip as BEGIN.
 */
const statementTimeoutInTransaction = (ms: number): Statement => ({
  text: `SELECT set_config('statement_timeout', $1, true)`,
  values: [String(ms)],
});

export { ADMIN_ROLE, APP_ROLE, LEGACY_ROLE } from './context.sql.js';

/**
 * The one place that knows how Parley reaches PostgreSQL: a server through `pg` when DATABASE_URL is set,
 * otherwise an embedded PGlite under PGLITE_DATA_DIR. Everything else asks it for a transaction in a
 * caller's RLS context (`asUser`), or, for maintenance only, for the raw executor.
 */
@Injectable()
export class DatabaseService implements OnApplicationShutdown {
  private readonly logger = new Logger('Database');
  private pool?: pg.Pool;
  /** Streaming replicas (DATABASE_REPLICA_URLS) for readAsUser; undefined without any. */
  private replicas?: ReplicaSet;
  private pglite?: PGlite;
  private client?: PrismaClient;
  private executor?: SqlExecutor;
  private readonly bound = new WeakMap<pg.PoolClient, PrismaClient>();
  private readonly boundClients = new Set<PrismaClient>();
  /** Per checked-out connection: its transaction's BEGIN and context statement(s), until they are sent. */
  private readonly opening = new WeakMap<pg.PoolClient, Statement[]>();
  /** Callers whose existence a committed transaction has shown lately (for the rate limiter's choice of budget). */
  readonly knownUsers = new KnownUsers();

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  get kind(): 'postgres' | 'pglite' {
    return this.config.DATABASE_URL ? 'postgres' : 'pglite';
  }

  /**
   * Whether DATABASE_URL is taken to be a transaction pooler: DATABASE_DIRECT_URL is set beside it. Session
   * state then lives only inside a transaction; whatever needs a session uses openDirectConnection().
   */
  get pooled(): boolean {
    return Boolean(this.config.DATABASE_URL && this.config.DATABASE_DIRECT_URL);
  }

  /**
   * A connection of its own to the primary, for work that needs a session (LISTEN, advisory locks held across
   * transactions): DATABASE_DIRECT_URL, else DATABASE_URL. The caller ends it. Not for request work (no
   * row-level-security context); on the embedded database there is none (undefined).
   */
  async openDirectConnection(applicationName = 'parley'): Promise<pg.Client | undefined> {
    const url = this.config.DATABASE_DIRECT_URL ?? this.config.DATABASE_URL;
    if (!url) return undefined;
    const client = new pg.Client({
      connectionString: url,
      connectionTimeoutMillis: this.config.DB_CONNECT_TIMEOUT_MS,
      application_name: applicationName,
      keepAlive: true,
    });
    await client.connect();
    return client;
  }

  /** Opens the database and, unless disabled, applies pending migrations. Called once at boot. */
  async connect(): Promise<void> {
    if (this.config.DATABASE_URL) {
      this.pool = new pg.Pool({ ...this.poolOptions(), connectionString: this.config.DATABASE_URL });
      this.pool.on('error', (error) => this.logger.warn(`idle database connection failed: ${error.message}`));
      this.pool.on('remove', (connection) => this.unbind(connection));
      this.executor = pgExecutor(this.pool);
      this.client = new PrismaClient({
        adapter: new PrismaPg(this.pool),
        transactionOptions: {
          maxWait: this.config.DB_CONNECT_TIMEOUT_MS,
          timeout: this.config.DB_STATEMENT_TIMEOUT_MS,
        },
      });
      const url = new URL(this.config.DATABASE_URL);
      this.logger.log(
        `Using PostgreSQL at ${url.hostname}:${url.port || 5432}${url.pathname}` +
          (this.pooled ? ' (a transaction pooler; sessions go to DATABASE_DIRECT_URL)' : ''),
      );
    } else {
      const dir = this.config.PGLITE_DATA_DIR;
      const dataDir = dir.startsWith('memory://') ? dir : resolve(dir);
      if (!dataDir.startsWith('memory://')) await mkdir(dataDir, { recursive: true });
      this.pglite = await PGlite.create(dataDir);
      this.executor = pgliteExecutor(this.pglite);
      this.client = new PrismaClient({ adapter: new PrismaPGlite(this.pglite) });
      this.logger.log(`Using embedded PostgreSQL (PGlite) in ${dataDir}`);
    }
    await this.withSchemaConnection(async (executor) => {
      if (this.config.DB_MIGRATE_ON_START) {
        const result = await migrate(executor);
        this.logger.log(
          result.applied.length > 0
            ? `Applied migrations: ${result.applied.join(', ')}`
            : `Database schema up to date (${result.alreadyApplied} migrations)`,
        );
        if (result.newer.length > 0)
          this.logger.warn(
            `The database has migrations of a later release applied (${result.newer.join(', ')}); running on it (expand/contract)`,
          );
      }
      await this.applySearchLanguage(executor);
      await this.applyRetention(executor);
    });
    if (this.pool && this.config.DATABASE_REPLICA_URLS) await this.startReplicas(this.pool);
  }

  /**
   * TEMP_SESSION_RETENTION_HOURS and SESSION_RETENTION_DAYS become the database's retention settings, which
   * the sessions' policy reads (an expired session is hidden at once; the purge job deletes it later).
   */
  private async applyRetention(executor: SqlExecutor): Promise<void> {
    try {
      await executor.query('SELECT app.use_retention($1::int, $2::int)', [
        this.config.TEMP_SESSION_RETENTION_HOURS,
        this.config.SESSION_RETENTION_DAYS ?? null,
      ]);
    } catch (error) {
      if (sqlStateOf(error) !== '42883') throw error;
      this.logger.warn('Retention settings not applied: the database has no retention migration yet');
    }
  }

  /**
   * SEARCH_LANGUAGE becomes the database's search configuration; when it changed, every stored search vector
   * is rewritten (app.use_search_language, in one transaction). An unknown configuration stops the start.
   */
  private async applySearchLanguage(executor: SqlExecutor): Promise<void> {
    const language = this.config.SEARCH_LANGUAGE;
    try {
      const [row] = await executor.query<{ changed: boolean }>(
        'SELECT app.use_search_language($1) AS changed',
        [language],
      );
      if (row?.changed) this.logger.warn(`Search language is now ${language}: messages re-indexed`);
    } catch (error) {
      if (sqlStateOf(error) === '42704') {
        throw new Error(`SEARCH_LANGUAGE: PostgreSQL has no text search configuration named ${language}`, {
          cause: error,
        });
      }
      // Migrations not applied yet (DB_MIGRATE_ON_START=false): the setting waits for the next start.
      if (sqlStateOf(error) === '42883') {
        this.logger.warn('Search language not applied: the database has no search migration yet');
        return;
      }
      throw error;
    }
  }

  /** Opens the replicas' pools and checks them once before the service takes traffic (then in the background). */
  private async startReplicas(primary: pg.Pool): Promise<void> {
    const urls = (this.config.DATABASE_REPLICA_URLS ?? '').split(',').map((url) => url.trim());
    this.replicas = new ReplicaSet(urls, {
      maxLagMs: this.config.REPLICA_MAX_LAG_MS,
      poolOptions: this.poolOptions(),
      primaryLsn: async () =>
        (await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0].lsn,
      log: (message) => this.logger.warn(message),
    });
    for (const replica of this.replicas.replicas)
      replica.pool.on('remove', (connection) => this.unbind(connection));
    await this.replicas.start();
    this.logger.log(
      `Read replicas: ${this.replicas
        .status()
        .map((r) => `${r.name} ${r.status}`)
        .join(
          ', ',
        )} (checked every ${this.replicas.intervalMs} ms, REPLICA_MAX_LAG_MS ${this.config.REPLICA_MAX_LAG_MS})`,
    );
  }

  /** The replicas' state (for readiness and metrics); undefined when none is configured. */
  replicaStatus(): ReplicaStatus[] | undefined {
    return this.replicas?.status();
  }

  /** Checks the replicas now instead of at the next interval (tests). */
  async checkReplicasNow(): Promise<void> {
    await this.replicas?.check();
  }

  /**
   * Options of every pool (the primary's and each replica's). A dead or hung server must answer fast 503s,
   * not hang requests: connecting (or waiting for a free connection) is bounded by DB_CONNECT_TIMEOUT_MS;
   * every statement by DB_STATEMENT_TIMEOUT_MS, on the server (statement_timeout, SQLSTATE 57014) and in
   * the client (query_timeout, for a server that went silent). Keep-alive notices a dropped connection.
   * sql-errors.ts maps all of these to 503.
   */
  private poolOptions(): pg.PoolConfig {
    return {
      max: this.config.DB_POOL_MAX,
      min: this.config.DB_POOL_MIN ?? this.config.DB_POOL_MAX,
      idleTimeoutMillis: this.config.DB_POOL_IDLE_TIMEOUT_MS,
      connectionTimeoutMillis: this.config.DB_CONNECT_TIMEOUT_MS,
      ...(this.pooled ? {} : { statement_timeout: this.config.DB_STATEMENT_TIMEOUT_MS }),
      query_timeout: this.config.DB_STATEMENT_TIMEOUT_MS + 1000,
      keepAlive: true,
      // Timestamps print in UTC on every pooled connection, the form timestamps.ts turns into API text
      // without a Date. pg-pool awaits this hook before it hands a new connection out, so the statement
      // never overlaps the connection's first query (queued from the pool's 'connect' event it did, which
      // pg reports as a deprecated query while another executes). A failure only costs that fast path.
      onConnect: async (connection) => {
        await connection.query(`SET TIME ZONE 'UTC'`).catch((error: Error) => {
          this.logger.warn(`could not set the connection's time zone to UTC: ${error.message}`);
        });
      },
    };
  }

  /**
   * Schema work at start (migrations, the search language). On a server it uses a direct connection of its
   * own (DATABASE_DIRECT_URL, else DATABASE_URL), outside the pool: one session for the advisory lock and each
   * migration's BEGIN/COMMIT, which a transaction pooler would spread over several server connections, and no
   * statement_timeout (building an index or re-indexing a large table may take longer than any request should).
   */
  private async withSchemaConnection(work: (executor: SqlExecutor) => Promise<void>): Promise<void> {
    const client = await this.openDirectConnection('parley-migrate');
    if (!client) return work(this.maintenance());
    try {
      await work(pgExecutor(client));
    } finally {
      await client.end();
    }
  }

  /** Connections of the PostgreSQL pool (for metrics); undefined on the embedded database. */
  poolStats(): { total: number; idle: number; waiting: number; max: number } | undefined {
    if (!this.pool) return undefined;
    return {
      total: this.pool.totalCount,
      idle: this.pool.idleCount,
      waiting: this.pool.waitingCount,
      max: this.config.DB_POOL_MAX,
    };
  }
  /**
   * Calls `listener` each time the pool has closed a connection (idle past DB_POOL_IDLE_TIMEOUT_MS above
   * DB_POOL_MIN, expired or broken), with the pool's counts after it. Returns the unsubscribe function; a
   * no-op without a pool (the embedded database).
   */
  onConnectionClosed(
    listener: (stats: NonNullable<ReturnType<DatabaseService['poolStats']>>) => void,
  ): () => void {
    const pool = this.pool;
    if (!pool) return () => undefined;
    const handler = () => {
      const stats = this.poolStats();
      if (stats) listener(stats);
    };
    pool.on('remove', handler);
    return () => void pool.off('remove', handler);
  }

  private get prisma(): PrismaClient {
    if (!this.client) throw new Error('DatabaseService.connect() has not run');
    return this.client;
  }

  /**
   * Runs `work` in one transaction as the application role with the caller's id in `app.user_id`, so every
   * statement is filtered by row-level security. The context is set, and the caller checked to exist, by one
   * statement sent with the work's first (see transaction); an unknown caller fails with SQLSTATE 28000
   * (answered as 401).
   */
  async asUser<T>(auth: AuthContext, work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.userTransaction(auth, work, this.pool);
  }

  /**
   * Like asUser, for a read that tolerates a streaming replica (session lists, message pages; search and
   * exports may opt in the same way): it runs on a replica when one is up, lags at most REPLICA_MAX_LAG_MS
   * and has replayed the caller's last write, else on the primary (the rule: src/database/replicas.ts,
   * docs/scaling.md). `work` must only read, and may run twice: when the replica fails as if unreachable
   * (or cancels the read in conflict with its recovery), it runs again on the primary, so a replica that
   * stops changes nothing for clients. Without replicas (or on the embedded database) this is asUser.
   */
  async readAsUser<T>(auth: AuthContext, work: (tx: Tx) => Promise<T>): Promise<T> {
    const replica = this.replicas?.pick(auth.userId);
    if (!replica) return this.asUser(auth, work);
    try {
      return await this.userTransaction(auth, work, replica.pool);
    } catch (error) {
      if (!isReplicaFailure(error)) throw error;
      this.replicas?.markDown(replica, (error as Error).message);
      return this.asUser(auth, work);
    }
  }

  private async userTransaction<T>(
    auth: AuthContext,
    work: (tx: Tx) => Promise<T>,
    pool: pg.Pool | undefined,
  ): Promise<T> {
    try {
      const result = await this.transaction(
        USER_CONTEXT,
        [APP_ROLE, auth.userId, auth.userId],
        work,
        pool,
        auth.userId,
      );
      this.knownUsers.prove(auth.userId);
      return result;
    } catch (error) {
      if (sqlStateOf(error) === '28000') this.knownUsers.forget(auth.userId);
      throw error;
    }
  }

  /**
   * Like asUser, for a user id whose row does not exist yet: creating one's own profile. The work creates or
   * finds that row, so once it commits the user exists.
   */
  async asNewUser<T>(userId: string, work: (tx: Tx) => Promise<T>): Promise<T> {
    const result = await this.transaction(CONTEXT_WITHOUT_CHECK, [APP_ROLE, userId], work, this.pool, userId);
    this.knownUsers.prove(userId);
    return result;
  }

  /** Anonymous legacy traffic: the legacy role, which reaches only dossiers nobody is a member of. */
  asLegacy<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.transaction(CONTEXT_WITHOUT_CHECK, [LEGACY_ROLE, ''], work, this.pool);
  }

  /**
   * An administrator's request: the role parley_admin, whose policies all require the caller to be an enabled
   * admin; the context statement refuses anyone else (401 for an unknown or disabled caller, 403 for a user
   * who is not an admin) before `work` runs anything.
   */
  asAdmin<T>(auth: AuthContext, work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.transaction(ADMIN_CONTEXT, [auth.userId, auth.userId], work, this.pool, auth.userId);
  }

  /**
   * Work done before the caller is known (resolving an API key): the application role with no caller, which
   * reaches no row of any table; only the SECURITY DEFINER functions granted to it answer.
   */
  asNobody<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.transaction(CONTEXT_WITHOUT_CHECK, [APP_ROLE, ''], work, this.pool);
  }

  /**
   * One request transaction: BEGIN, the context statement, `work`, COMMIT (ROLLBACK when anything throws).
   *
   * On PostgreSQL the transaction is driven on a pooled connection directly, and `work` gets a Prisma client
   * bound to that connection (one per pooled connection, made on its first use): a Prisma interactive
   * transaction costs more CPU than a short request's own queries (docs/performance.md). The bounds are
   * those the interactive transaction had: waiting for a connection is bounded by DB_CONNECT_TIMEOUT_MS (the
   * pool), every statement by DB_STATEMENT_TIMEOUT_MS, and a transaction that outlives
   * DB_STATEMENT_TIMEOUT_MS is rolled back and fails. On the embedded database it is a Prisma interactive
   * transaction.
   *
   * Round trips on PostgreSQL: BEGIN and the context statement are not sent on their own; they go out in
   * front of the transaction's first statement, as one extended-protocol batch with one Sync (queryAfter),
   * so a one-statement read costs two round trips (that batch, COMMIT) instead of four. PostgreSQL runs
   * them in order, so that statement and every one after it see the role and the caller exactly as before,
   * and both settings are transaction-local (set_config(..., true)): COMMIT or ROLLBACK resets them. An
   * unknown caller fails that first statement with 28000; `work` failing before it sent anything is
   * checked the same way before its own error is passed on, so an unknown caller is still answered 401.
   */
  private async transaction<T>(
    context: string,
    params: string[],
    work: (tx: Tx) => Promise<T>,
    pool: pg.Pool | undefined,
    writer?: string,
  ): Promise<T> {
    if (!pool) {
      return this.prisma.$transaction(async (tx) => {
        await tx.$queryRawUnsafe(context, ...params);
        rawSql.set(tx, {
          query: async <R>(text: string, values: unknown[] = []) =>
            (await tx.$queryRawUnsafe<Record<string, unknown>[]>(text, ...values)).map(datesToText) as R[],
        });
        return work(asTx(tx));
      });
    }
    const connection = await pool.connect();
    const started = performance.now();
    let broken: Error | undefined;
    // A connection that dies while checked out emits 'error' (the pool listens only to idle ones); its
    // statement fails too, which is what the request sees. The connection is then destroyed on release.
    const onError = (error: Error) => {
      broken = error;
    };
    connection.on('error', onError);
    // BEGIN and the context statement go out with the transaction's first statement, in its round trip
    // (queryAfter); until then they wait here.
    this.opening.set(connection, [
      BEGIN,
      ...(this.pooled ? [statementTimeoutInTransaction(this.config.DB_STATEMENT_TIMEOUT_MS)] : []),
      { text: context, values: params },
    ]);
    try {
      const result = await work(this.boundClient(connection));
      // A transaction that sent nothing still checks its caller (an unknown user is answered 401).
      await this.open(connection);
      if (performance.now() - started > this.config.DB_STATEMENT_TIMEOUT_MS) {
        throw new Error(
          `Transaction API error: the transaction ran longer than ${this.config.DB_STATEMENT_TIMEOUT_MS} ms and was rolled back`,
        );
      }
      if (this.replicas && writer !== undefined && pool === this.pool)
        await this.commitRemembering(connection, writer);
      else await connection.query('COMMIT');
      return result;
    } catch (error) {
      // `work` failed before its first statement: the caller's check still comes first, as when the
      // context was set before `work` ran (an unknown caller is answered 401, not what `work` threw).
      const checked = await this.open(connection)?.then(
        () => error,
        (contextError: unknown) => contextError,
      );
      await connection.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError;
      });
      throw checked ?? error;
    } finally {
      this.opening.delete(connection);
      connection.removeListener('error', onError);
      connection.release(broken);
    }
  }

  /**
   * COMMIT on the primary with replicas configured: in the same round trip, whether the transaction wrote
   * (it has a transaction id) and, after the commit, the WAL position that covers it. A write's position is
   * remembered for its user, so their next reads use only a replica that has replayed it.
   */
  private async commitRemembering(connection: pg.PoolClient, userId: string): Promise<void> {
    const results = (await connection.query(
      `SELECT pg_current_xact_id_if_assigned() IS NOT NULL AS wrote; COMMIT; SELECT pg_current_wal_insert_lsn()::text AS lsn`,
    )) as unknown as pg.QueryResult[];
    const wrote = (results[0]?.rows[0] as { wrote?: boolean } | undefined)?.wrote;
    const lsn = (results[2]?.rows[0] as { lsn?: string } | undefined)?.lsn;
    if (wrote && lsn) this.replicas?.recordWrite(userId, lsn);
  }

  /**
   * Sends a transaction's pending opening statements on their own (BEGIN with the context statement, one
   * round trip), for a statement that cannot carry them (Prisma's) or a transaction that sent none.
   * Undefined when they have gone out already.
   */
  private open(connection: pg.PoolClient): Promise<unknown> | undefined {
    const opening = this.opening.get(connection);
    if (!opening) return undefined;
    this.opening.delete(connection);
    const last = opening[opening.length - 1];
    return queryAfter(connection, opening.slice(0, -1), { text: last.text, values: last.values as string[] });
  }

  /** The Prisma client of a pooled connection: every query it sends runs on that connection. */
  private boundClient(connection: pg.PoolClient): Tx {
    let client = this.bound.get(connection);
    if (!client) {
      client = new PrismaClient({
        adapter: new PrismaPg(new ConnectionBoundPool(connection, () => this.open(connection))),
      });
      this.bound.set(connection, client);
      this.boundClients.add(client);
      rawSql.set(client, {
        query: async <R>(text: string, values?: unknown[]) => {
          const config = { text, values, types: RAW_SQL_TYPES };
          const opening = this.opening.get(connection);
          if (!opening) return (await connection.query(config)).rows as R[];
          this.opening.delete(connection);
          return (await queryAfter(connection, opening, config)).rows as R[];
        },
      });
    }
    return asTx(client);
  }

  /** Forgets the Prisma client of a connection the pool has closed. */
  private unbind(connection: pg.PoolClient): void {
    const client = this.bound.get(connection);
    if (!client) return;
    this.bound.delete(connection);
    this.boundClients.delete(client);
    void client.$disconnect().catch(() => undefined);
  }

  /**
   * MAINTENANCE ONLY: the connecting role, which bypasses row-level security. For migrations, the legacy
   * importer, health checks and tests that set up data; never for request work.
   */
  maintenance(): SqlExecutor {
    if (!this.executor) throw new Error('DatabaseService.connect() has not run');
    return this.executor;
  }

  /**
   * MAINTENANCE ONLY: `work` in one transaction as the connecting role (bypassing row-level security), on a
   * connection of the pool or the embedded database. For background work that acts for many users at once
   * (finishing the replies of a dead instance).
   */
  async maintenanceTransaction<T>(work: (sql: SqlExecutor) => Promise<T>): Promise<T> {
    if (this.pglite) return this.pglite.transaction((tx) => work(pgliteTransactionExecutor(tx)));
    if (!this.pool) throw new Error('DatabaseService.connect() has not run');
    const connection = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await connection.query('BEGIN');
      const result = await work(pgExecutor(connection));
      await connection.query('COMMIT');
      return result;
    } catch (error) {
      await connection.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
      throw error;
    } finally {
      connection.release(broken);
    }
  }

  /** MAINTENANCE ONLY: the Prisma client without an RLS context. */
  maintenancePrisma(): PrismaClient {
    return this.prisma;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.replicas?.stop();
    this.replicas = undefined;
    await Promise.all([...this.boundClients].map((client) => client.$disconnect().catch(() => undefined)));
    this.boundClients.clear();
    await this.client?.$disconnect();
    await this.pool?.end();
    await this.pglite?.close();
    this.client = undefined;
    this.pool = undefined;
    this.pglite = undefined;
  }
}

/**
 * A read on a replica failed because of the replica, not the request: unreachable or unavailable (what
 * answers 503 on the primary), or canceled in conflict with recovery (40001 on a standby). Run it again on
 * the primary.
 */
function isReplicaFailure(error: unknown): boolean {
  return sqlStateOf(error) === '40001' || appErrorFromDatabase(error)?.code === 'unavailable';
}

/** The embedded database's raw rows, with timestamps as the API's text like pg's RAW_SQL_TYPES give them. */
function datesToText(row: Record<string, unknown>): Record<string, unknown> {
  for (const key in row) {
    const value = row[key];
    if (value instanceof Date) row[key] = apiTimestamp(value);
  }
  return row;
}
