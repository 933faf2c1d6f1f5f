import { DynamicModule, Global, Module } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsService } from './metrics.service.js';

/** MetricsService for every feature; GET /metrics unless METRICS_ENABLED=false. */
@Global()
@Module({})
export class MetricsModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: MetricsModule,
      providers: [MetricsService],
      exports: [MetricsService],
      controllers: config.METRICS_ENABLED ? [MetricsController] : [],
    };
  }
}
