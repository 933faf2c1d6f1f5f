import { DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { APP_CONFIG } from './config.tokens.js';
import type { AppConfig } from './app-config.js';

/** Makes the validated configuration injectable (`@Inject(APP_CONFIG)`) and readable through ConfigService. */
@Global()
@Module({})
export class AppConfigModule {
  static async forRoot(config: AppConfig): Promise<DynamicModule> {
    return {
      module: AppConfigModule,
      imports: [await ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ ...config })] })],
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
    };
  }
}
