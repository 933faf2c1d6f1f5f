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
import { migrate } from './migrator.js';
import { pgExecutor, pgliteExecutor, type SqlExecutor } from './sql-executor.js';

/** A Prisma client bound to one transaction that runs under a caller's row-level-security context. */
export type Tx = Prisma.TransactionClient;

/** The role request traffic runs as; created by the first migration, never BYPASSRLS. */
export const APP_ROLE = 'parley_app';
/** The role anonymous legacy /chat calls run as; it reaches only dossiers without members. */
export const LEGACY_ROLE = 'parley_legacy';

/**
 * The one place that knows how Parley reaches PostgreSQL: a server through `pg` when DATABASE_URL is set,
 * otherwise an embedded PGlite under PGLITE_DATA_DIR. Everything else asks it for a transaction in a
 * caller's RLS context (`asUser`), or, for maintenance only, for the raw executor.
 */
@Injectable()
export class DatabaseService implements OnApplicationShutdown {
  private readonly logger = new Logger('Database');
  private pool?: pg.Pool;
  private pglite?: PGlite;
  private client?: PrismaClient;
  private executor?: SqlExecutor;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  get kind(): 'postgres' | 'pglite' {
    return this.config.DATABASE_URL ? 'postgres' : 'pglite';
  }

  /** Opens the database and, unless disabled, applies pending migrations. Called once at boot. */
  async connect(): Promise<void> {
    if (this.config.DATABASE_URL) {
      // A dead or hung server must answer fast 503s, not hang requests: connecting (or waiting for a free
      // connection) is bounded by DB_CONNECT_TIMEOUT_MS; every statement by DB_STATEMENT_TIMEOUT_MS, on the
      // server (statement_timeout, SQLSTATE 57014) and in the client (query_timeout, for a server that went
      // silent). Keep-alive notices a dropped connection. sql-errors.ts maps all of these to 503.
      this.pool = new pg.Pool({
        connectionString: this.config.DATABASE_URL,
        max: this.config.DB_POOL_MAX,
        connectionTimeoutMillis: this.config.DB_CONNECT_TIMEOUT_MS,
        statement_timeout: this.config.DB_STATEMENT_TIMEOUT_MS,
        query_timeout: this.config.DB_STATEMENT_TIMEOUT_MS + 1000,
        keepAlive: true,
      });
      this.pool.on('error', (error) => this.logger.warn(`idle database connection failed: ${error.message}`));
      this.executor = pgExecutor(this.pool);
      this.client = new PrismaClient({
        adapter: new PrismaPg(this.pool),
        transactionOptions: {
          maxWait: this.config.DB_CONNECT_TIMEOUT_MS,
          timeout: this.config.DB_STATEMENT_TIMEOUT_MS,
        },
      });
      const url = new URL(this.config.DATABASE_URL);
      this.logger.log(`Using PostgreSQL at ${url.hostname}:${url.port || 5432}${url.pathname}`);
    } else {
      const dir = this.config.PGLITE_DATA_DIR;
      const dataDir = dir.startsWith('memory://') ? dir : resolve(dir);
      if (!dataDir.startsWith('memory://')) await mkdir(dataDir, { recursive: true });
      this.pglite = await PGlite.create(dataDir);
      this.executor = pgliteExecutor(this.pglite);
      this.client = new PrismaClient({ adapter: new PrismaPGlite(this.pglite) });
      this.logger.log(`Using embedded PostgreSQL (PGlite) in ${dataDir}`);
    }
    if (this.config.DB_MIGRATE_ON_START) {
      const result = await this.migrateNow();
      this.logger.log(
        result.applied.length > 0
          ? `Applied migrations: ${result.applied.join(', ')}`
          : `Database schema up to date (${result.alreadyApplied} migrations)`,
      );
    }
  }

  /**
   * Applies pending migrations. On a server this uses a connection of its own, outside the pool: one session
   * for the advisory lock and each migration's BEGIN/COMMIT, and no statement_timeout (building an index
   * on a large table may take longer than any request should).
   */
  private async migrateNow(): Promise<Awaited<ReturnType<typeof migrate>>> {
    if (!this.config.DATABASE_URL) return migrate(this.maintenance());
    const client = new pg.Client({
      connectionString: this.config.DATABASE_URL,
      connectionTimeoutMillis: this.config.DB_CONNECT_TIMEOUT_MS,
    });
    await client.connect();
    try {
      return await migrate(pgExecutor(client));
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

  private get prisma(): PrismaClient {
    if (!this.client) throw new Error('DatabaseService.connect() has not run');
    return this.client;
  }

  /**
   * Runs `work` in one transaction as the application role with the caller's id in `app.user_id`, so every
   * statement is filtered by row-level security. The context is set, and the caller checked to exist, in a
   * single round trip; an unknown caller fails with SQLSTATE 28000 (answered as 401).
   */
  asUser<T>(auth: AuthContext, work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.prisma.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT set_config('role', ${APP_ROLE}, true), set_config('app.user_id', ${auth.userId}, true), app.assert_user_exists(${auth.userId}::uuid)`;
      return work(tx);
    });
  }

  /** Like asUser, for a user id whose row does not exist yet: creating one's own profile. */
  asNewUser<T>(userId: string, work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.prisma.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT set_config('role', ${APP_ROLE}, true), set_config('app.user_id', ${userId}, true)`;
      return work(tx);
    });
  }

  /** Anonymous legacy traffic: the legacy role, which reaches only dossiers nobody is a member of. */
  asLegacy<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.prisma.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT set_config('role', ${LEGACY_ROLE}, true), set_config('app.user_id', '', true)`;
      return work(tx);
    });
  }

  /**
   * MAINTENANCE ONLY: the connecting role, which bypasses row-level security. For migrations, the legacy
   * importer, health checks and tests that set up data; never for request work.
   */
  maintenance(): SqlExecutor {
    if (!this.executor) throw new Error('DatabaseService.connect() has not run');
    return this.executor;
  }

  /** MAINTENANCE ONLY: the Prisma client without an RLS context. */
  maintenancePrisma(): PrismaClient {
    return this.prisma;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client?.$disconnect();
    await this.pool?.end();
    await this.pglite?.close();
    this.client = undefined;
    this.pool = undefined;
    this.pglite = undefined;
  }
}
