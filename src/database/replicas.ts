/**
 * Streaming replicas for reads that tolerate them (DATABASE_REPLICA_URLS), with read-your-writes.
 *
 * The rule (docs/scaling.md): a read of user U goes to replica R only when
 *  1. R answered its last check (every CHECK interval) and that check is recent;
 *  2. R's lag is at most REPLICA_MAX_LAG_MS, where lag is how long R has been missing a state of the
 *     primary: the primary's WAL position is sampled at each check, and the lag is the age of the oldest
 *     sample R has not replayed yet (0 when it has replayed them all);
 *  3. U has committed no write in the last WRITE_WINDOW, or R's replayed position (pg_last_wal_replay_lsn()
 *     at its last check) has passed U's last commit (pg_current_wal_insert_lsn() right after that COMMIT).
 * Otherwise it goes to the primary. A read that fails on R because R is unreachable or in conflict with
 * recovery marks R down and runs again on the primary: a replica that stops changes nothing for clients.
 *
 * Loads neither Nest nor Prisma.
 */
import pg from 'pg';

/** A WAL position (PostgreSQL's `X/Y` text) as a number that orders like it. */
export function parseLsn(text: string): bigint {
  const [hi, lo] = text.split('/');
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}

export interface ReplicaStatus {
  /** `replica-1`, `replica-2`, ... in DATABASE_REPLICA_URLS order (no host names: readiness is public). */
  name: string;
  /** up: takes reads; lagging: reachable but behind by more than REPLICA_MAX_LAG_MS; down: not answering. */
  status: 'up' | 'lagging' | 'down';
  /** How long it has been missing a state of the primary (ms), when reachable. */
  lagMs: number | null;
  /** Its replayed WAL position at the last check. */
  replayLsn: string | null;
}

interface Sample {
  at: number;
  lsn: bigint;
}

export class Replica {
  replayLsn: bigint | undefined;
  replayText: string | null = null;
  lagMs = Number.POSITIVE_INFINITY;
  /** When the last check succeeded (0: never). */
  checkedAt = 0;
  down = true;

  constructor(
    readonly name: string,
    readonly pool: pg.Pool,
  ) {}
}

export interface ReplicaSetOptions {
  maxLagMs: number;
  /** Pool options for each replica's pool (connection string added here). */
  poolOptions: pg.PoolConfig;
  /** The primary's WAL insert position, e.g. from its pool. */
  primaryLsn: () => Promise<string>;
  /** Logs state changes (a replica going down, lagging, back). */
  log: (message: string) => void;
  now?: () => number;
}

/** How often replicas (and the primary's position) are checked: a quarter of the lag bound, 100 ms..1 s. */
export function checkIntervalMs(maxLagMs: number): number {
  return Math.max(100, Math.min(1000, Math.floor(maxLagMs / 4)));
}

export class ReplicaSet {
  readonly replicas: Replica[];
  readonly intervalMs: number;
  /**
   * How long a user's last commit is remembered. Past it, rule 2 alone guarantees the write: a replica
   * within REPLICA_MAX_LAG_MS has replayed every primary sample older than that, and a sample taken after
   * the commit is at most one interval younger than it.
   */
  readonly writeWindowMs: number;
  private readonly samples: Sample[] = [];
  private readonly writes = new Map<string, { lsn: bigint; at: number }>();
  private timer?: NodeJS.Timeout;
  private next = 0;
  private checking?: Promise<void>;
  private readonly now: () => number;

  constructor(
    urls: string[],
    private readonly options: ReplicaSetOptions,
    private readonly maxWrites = 100_000,
  ) {
    this.now = options.now ?? Date.now;
    this.intervalMs = checkIntervalMs(options.maxLagMs);
    this.writeWindowMs = options.maxLagMs + 3 * this.intervalMs;
    this.replicas = urls.map((url, i) => {
      const pool = new pg.Pool({ ...options.poolOptions, connectionString: url });
      pool.on('error', () => undefined);
      return new Replica(`replica-${i + 1}`, pool);
    });
  }

  /** Checks once now (awaited at start), then every intervalMs. */
  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.checking;
    await Promise.all(this.replicas.map((r) => r.pool.end().catch(() => undefined)));
  }

  /** One round of checks: the primary's position, then every replica's replayed position. */
  check(): Promise<void> {
    this.checking ??= this.checkNow().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private async checkNow(): Promise<void> {
    const now = this.now();
    try {
      this.samples.push({ at: now, lsn: parseLsn(await this.options.primaryLsn()) });
    } catch {
      // The primary does not answer: keep the samples there are; requests will see the outage themselves.
    }
    // Keep what the lag bound needs: samples younger than the window, and the newest older one.
    const horizon = now - this.writeWindowMs;
    while (this.samples.length > 1 && this.samples[1].at < horizon) this.samples.shift();
    await Promise.all(this.replicas.map((replica) => this.checkReplica(replica)));
  }

  private async checkReplica(replica: Replica): Promise<void> {
    const before = this.describe(replica);
    try {
      const { rows } = await replica.pool.query<{ lsn: string | null }>(
        'SELECT pg_last_wal_replay_lsn()::text AS lsn',
      );
      const text = rows[0]?.lsn;
      if (!text) throw new Error('not a streaming replica (pg_last_wal_replay_lsn() is NULL)');
      const lsn = parseLsn(text);
      replica.replayLsn = lsn;
      replica.replayText = text;
      replica.checkedAt = this.now();
      replica.down = false;
      const missing = this.samples.find((s) => s.lsn > lsn);
      replica.lagMs = missing ? this.now() - missing.at : 0;
    } catch (error) {
      replica.down = true;
      replica.lagMs = Number.POSITIVE_INFINITY;
      const after = this.describe(replica);
      if (after !== before) this.options.log(`${replica.name} is down: ${(error as Error).message}`);
      return;
    }
    const after = this.describe(replica);
    if (after !== before) this.options.log(`${replica.name} is ${after}`);
  }

  private describe(replica: Replica): ReplicaStatus['status'] {
    if (replica.down || this.now() - replica.checkedAt > 3 * this.intervalMs) return 'down';
    return replica.lagMs > this.options.maxLagMs ? 'lagging' : 'up';
  }

  /** A user's transaction committed on the primary at `lsn` (a write: it had a transaction id). */
  recordWrite(userId: string, lsn: string): void {
    this.writes.delete(userId);
    this.writes.set(userId, { lsn: parseLsn(lsn), at: this.now() });
    if (this.writes.size > this.maxWrites) {
      const oldest = this.writes.keys().next().value;
      if (oldest !== undefined) this.writes.delete(oldest);
    }
  }

  /** The replica for a read of `userId` by the rule above, or undefined for the primary. */
  pick(userId: string | undefined): Replica | undefined {
    let needs: bigint | undefined;
    if (userId !== undefined) {
      const write = this.writes.get(userId);
      if (write && this.now() - write.at <= this.writeWindowMs) needs = write.lsn;
      else if (write) this.writes.delete(userId);
    }
    const count = this.replicas.length;
    for (let i = 0; i < count; i++) {
      const replica = this.replicas[(this.next + i) % count];
      if (this.describe(replica) !== 'up') continue;
      if (needs !== undefined && (replica.replayLsn === undefined || replica.replayLsn < needs)) continue;
      this.next = (this.next + i + 1) % count;
      return replica;
    }
    return undefined;
  }

  /** A read on `replica` failed as if it were unreachable: skip it until a check finds it answering. */
  markDown(replica: Replica, reason: string): void {
    if (!replica.down) this.options.log(`${replica.name} is down: ${reason}`);
    replica.down = true;
  }

  status(): ReplicaStatus[] {
    return this.replicas.map((replica) => {
      const status = this.describe(replica);
      return {
        name: replica.name,
        status,
        lagMs: status === 'down' || !Number.isFinite(replica.lagMs) ? null : replica.lagMs,
        replayLsn: replica.replayText,
      };
    });
  }
}
