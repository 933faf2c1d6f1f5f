import { Controller, Get, Logger, ServiceUnavailableException } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheckService, HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { IgnoresIdentity } from '../auth/auth.decorators.js';
import { ApiErrors } from '../common/api-docs.js';
import { AppError } from '../common/app-error.js';
import { SkipRateLimit } from '../common/route-policy.js';
import { ShutdownService } from '../common/shutdown.service.js';
import { HealthService } from './health.service.js';
import { LivenessResponseDto, ReadinessResponseDto } from './health.dto.js';

/**
 * Probes for orchestrators and load balancers: public, blind to identity headers (documented without a security
 * requirement), never rate limited, cheap. Liveness says only that
 * the process answers (restart it if not); readiness that it can serve requests (route traffic to it).
 */
@ApiTags('operations')
@Controller('health')
@SkipRateLimit()
export class HealthController {
  private readonly logger = new Logger('Health');
  private lastFailure = '';

  constructor(
    private readonly checks: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly health: HealthService,
    private readonly shutdown: ShutdownService,
  ) {}

  @Get('live')
  @IgnoresIdentity()
  @ApiOperation({ summary: 'Liveness: the process is up' })
  getLiveness(): LivenessResponseDto {
    return { status: 'ok' };
  }

  /** 503 while the database is unreachable or slow, a migration is pending, or the service is shutting down. */
  @Get('ready')
  @IgnoresIdentity()
  @ApiOperation({ summary: 'Readiness: the database answers and its schema is up to date' })
  @ApiErrors(503)
  async getReadiness(): Promise<ReadinessResponseDto> {
    if (this.shutdown.shuttingDown)
      throw new AppError('unavailable', 'Not ready: the service is shutting down');
    const timeout = this.health.timeoutMs;
    try {
      await this.checks.check([
        () =>
          this.indicators
            .check('database')
            .attempt(() => this.health.pingDatabase())
            .withTimeout(timeout),
        () =>
          this.indicators
            .check('migrations')
            .attempt(() => this.health.checkMigrations())
            .withTimeout(timeout),
      ]);
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      const failed = (error.getResponse() as { error?: HealthIndicatorResult }).error ?? {};
      const details = Object.entries(failed).map(([field, result]) => ({
        field,
        message: String((result as { message?: unknown }).message ?? 'down'),
      }));
      const summary = details.map((d) => `${d.field}: ${d.message}`).join('; ');
      if (summary !== this.lastFailure) this.logger.warn(`Not ready: ${summary}`);
      this.lastFailure = summary;
      throw new AppError('unavailable', `Not ready: ${summary}`, details);
    }
    if (this.lastFailure) this.logger.log('Ready again');
    this.lastFailure = '';
    const replicas = this.health.replicas();
    return { status: 'ok', checks: { database: 'up', migrations: 'up', ...(replicas ? { replicas } : {}) } };
  }
}
