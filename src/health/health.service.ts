import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { DatabaseService } from '../database/database.service.js';
import { migrationStatus } from '../database/migrator.js';
import type { ReplicaCheckDto } from './health.dto.js';

/**
 * The readiness checks. Their failures say what is wrong without internals (no host names, no driver
 * messages): the probe is public.
 */
@Injectable()
export class HealthService {
  constructor(
    private readonly database: DatabaseService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  get timeoutMs(): number {
    return this.config.HEALTH_TIMEOUT_MS;
  }

  async pingDatabase(): Promise<void> {
    try {
      await this.database.maintenance().query('SELECT 1');
    } catch {
      throw new Error('unreachable');
    }
  }

  /** The replicas as readiness reports them; undefined when none is configured. */
  replicas(): ReplicaCheckDto[] | undefined {
    return this.database
      .replicaStatus()
      ?.map((replica) => ({ name: replica.name, status: replica.status, lag_ms: replica.lagMs }));
  }

  async checkMigrations(): Promise<void> {
    let pending: string[];
    try {
      ({ pending } = await migrationStatus(this.database.maintenance()));
    } catch {
      throw new Error('unknown (the database did not answer)');
    }
    if (pending.length > 0) throw new Error(`pending: ${pending.join(', ')}`);
  }
}
