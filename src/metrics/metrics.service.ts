import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { LimitsObserver } from '../common/limits-observer.js';
import { DatabaseService } from '../database/database.service.js';

export type ProviderOutcome = 'ok' | 'error' | 'timeout' | 'aborted' | 'shutdown';

/**
 * Parley's Prometheus metrics, in a registry of the application's own (two apps in one process, as in the
 * tests, never collide). Features record through the small methods below rather than touching prom-client.
 * Label values are bounded: routes are templates, providers and models come from configuration.
 */
@Injectable()
export class MetricsService implements LimitsObserver {
  readonly registry = new Registry();

  private readonly httpDuration = new Histogram({
    name: 'parley_http_request_duration_seconds',
    help: 'HTTP requests by method, route template and status code',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  private readonly openStreams = new Gauge({
    name: 'parley_open_streams',
    help: 'Streaming chat responses currently open',
    registers: [this.registry],
  });

  private readonly chatTokens = new Counter({
    name: 'parley_chat_tokens_total',
    help: 'Tokens reported by the language model provider, by direction (input, output)',
    labelNames: ['provider', 'model', 'direction'] as const,
    registers: [this.registry],
  });

  private readonly providerDuration = new Histogram({
    name: 'parley_llm_request_duration_seconds',
    help: 'Language model calls from request to last token, by outcome',
    labelNames: ['provider', 'model', 'outcome'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120],
    registers: [this.registry],
  });

  private readonly providerErrors = new Counter({
    name: 'parley_llm_errors_total',
    help: 'Language model calls that failed, by kind (error, timeout)',
    labelNames: ['provider', 'model', 'kind'] as const,
    registers: [this.registry],
  });

  private readonly purgedSessions = new Counter({
    name: 'parley_sessions_purged_total',
    help: 'Expired sessions (temporary, or past SESSION_RETENTION_DAYS) deleted by the purge job',
    registers: [this.registry],
  });

  private readonly rateLimited = new Counter({
    name: 'parley_rate_limited_total',
    help: 'Requests refused with 429, by limit (default, chat, streams)',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });

  constructor(private readonly database: DatabaseService) {
    collectDefaultMetrics({ register: this.registry, prefix: 'parley_' });
    const pool = (
      name: string,
      help: string,
      pick: (s: NonNullable<ReturnType<DatabaseService['poolStats']>>) => number,
    ) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          const stats = database.poolStats();
          if (stats) this.set(pick(stats));
        },
      });
    pool('parley_db_pool_connections', 'Open connections in the PostgreSQL pool', (s) => s.total);
    pool('parley_db_pool_idle_connections', 'Idle connections in the PostgreSQL pool', (s) => s.idle);
    pool('parley_db_pool_waiting_requests', 'Requests waiting for a PostgreSQL connection', (s) => s.waiting);
    pool('parley_db_pool_max_connections', 'Size limit of the PostgreSQL pool (DB_POOL_MAX)', (s) => s.max);
  }

  /** Called once per finished HTTP request (app.factory.ts's onResponse hook). */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.httpDuration.observe({ method, route, status: String(status) }, seconds);
  }

  streamOpened(): void {
    this.openStreams.inc();
  }

  streamClosed(): void {
    this.openStreams.dec();
  }

  /** Token usage of one model call, as the provider reported it (skip what it did not report). */
  recordTokens(provider: string, model: string, usage: { input?: number; output?: number }): void {
    if (usage.input !== undefined && usage.input > 0)
      this.chatTokens.inc({ provider, model, direction: 'input' }, usage.input);
    if (usage.output !== undefined && usage.output > 0)
      this.chatTokens.inc({ provider, model, direction: 'output' }, usage.output);
  }

  /** One model call ended: its duration by outcome; `error` and `timeout` also count as provider errors. */
  recordProviderCall(provider: string, model: string, outcome: ProviderOutcome, seconds: number): void {
    this.providerDuration.observe({ provider, model, outcome }, seconds);
    if (outcome === 'error' || outcome === 'timeout')
      this.providerErrors.inc({ provider, model, kind: outcome });
  }

  recordRateLimited(limit: 'default' | 'chat' | 'streams'): void {
    this.rateLimited.inc({ limit });
  }

  /** Sessions the retention purge deleted. */
  sessionsPurged(count: number): void {
    if (count > 0) this.purgedSessions.inc(count);
  }

  /** The exposition text for GET /metrics. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
