import { Inject, Logger, Module, OnApplicationBootstrap } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ApiKeysModule } from '../api-keys/api-keys.module.js';
import { OidcModule } from '../oidc/oidc.module.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { AuthGuard } from './auth.guard.js';
import { PassportModule } from '@nestjs/passport';
import { JwtKeys } from './jwt-keys.js';
import { JwtStrategy } from './jwt.strategy.js';

@Module({
  imports: [PassportModule, ApiKeysModule, OidcModule],
  providers: [JwtKeys, JwtStrategy, { provide: APP_GUARD, useClass: AuthGuard }],
  exports: [JwtKeys],
})
export class AuthModule implements OnApplicationBootstrap {
  private readonly logger = new Logger('Auth');

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  onApplicationBootstrap(): void {
    if (this.config.NODE_ENV === 'production' && this.config.AUTH_HEADER_ENABLED) {
      this.logger.warn(
        'AUTH_HEADER_ENABLED is on in production: any client can act as any user by sending X-User-ID. ' +
          'Turn it off (AUTH_HEADER_ENABLED=false) unless a trusted gateway sets the header and strips it from clients.',
      );
    }
  }
}
