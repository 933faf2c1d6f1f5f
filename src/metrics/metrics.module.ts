import { DynamicModule, Global, Module } from '@nestjs/common';
import { LIMITS_OBSERVER } from '../common/limits-observer.js';
import type { AppConfig } from '../config/app-config.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsService } from './metrics.service.js';

/**
 * MetricsService for every feature, also as the abuse limits' LimitsObserver (so limits/ needs no import of
 * metrics/); GET /metrics unless METRICS_ENABLED=false.
 */
@Global()
@Module({})
export class MetricsModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: MetricsModule,
      providers: [MetricsService, { provide: LIMITS_OBSERVER, useExisting: MetricsService }],
      exports: [MetricsService, LIMITS_OBSERVER],
      controllers: config.METRICS_ENABLED ? [MetricsController] : [],
    };
  }
}
