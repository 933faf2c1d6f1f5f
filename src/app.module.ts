import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { AdminModule } from './admin/admin.module.js';
import { ApiKeysModule } from './api-keys/api-keys.module.js';
import { AuthModule } from './auth/auth.module.js';
import { ChatModule } from './chat/chat.module.js';
import { AllExceptionsFilter } from './common/http-exception.filter.js';
import { LifecycleModule } from './common/lifecycle.module.js';
import type { AppConfig } from './config/app-config.js';
import { AppConfigModule } from './config/config.module.js';
import { DatabaseModule } from './database/database.module.js';
import { ExportsModule } from './exports/exports.module.js';
import { HealthModule } from './health/health.module.js';
import { ImportsModule } from './imports/imports.module.js';
import { LegacyChatModule } from './legacy-chat/legacy-chat.module.js';
import { LimitsModule } from './limits/limits.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { MessagesModule } from './messages/messages.module.js';
import { ProjectsModule } from './projects/projects.module.js';
import { RetentionModule } from './retention/retention.module.js';
import { SearchModule } from './search/search.module.js';
import { SessionsModule } from './sessions/sessions.module.js';
import { UsersModule } from './users/users.module.js';

@Module({})
export class AppModule {
  static async forRoot(config: AppConfig): Promise<DynamicModule> {
    return {
      module: AppModule,
      imports: [
        await AppConfigModule.forRoot(config),
        LifecycleModule,
        DatabaseModule,
        MetricsModule.forRoot(config),
        AuthModule,
        // After AuthModule: its rate-limit guard counts the caller that AuthGuard resolved.
        LimitsModule.forRoot(config),
        HealthModule,
        UsersModule,
        ProjectsModule,
        SessionsModule,
        MessagesModule,
        ChatModule,
        ExportsModule,
        SearchModule,
        ApiKeysModule,
        AdminModule,
        ImportsModule,
        RetentionModule,
        // The legacy POST /chat: absent (404, not in the OpenAPI document) when LEGACY_CHAT_ENABLED is false.
        ...(config.LEGACY_CHAT_ENABLED ? [LegacyChatModule] : []),
      ],
      providers: [{ provide: APP_FILTER, useClass: AllExceptionsFilter }],
    };
  }
}
