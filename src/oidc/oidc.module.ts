import { Inject, Logger, Module, OnApplicationBootstrap } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { DatabaseService } from '../database/database.service.js';
import { IdentitiesRepository } from './identities.repository.js';
import { OidcVerifier } from './oidc-verifier.js';
import { OidcService } from './oidc.service.js';

/** OpenID Connect sign-in, and ADMIN_EMAILS written to the database at start. */
@Module({
  providers: [OidcVerifier, OidcService, IdentitiesRepository],
  exports: [OidcService],
})
export class OidcModule implements OnApplicationBootstrap {
  private readonly logger = new Logger('OIDC');

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly db: DatabaseService,
    private readonly identities: IdentitiesRepository,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const emails = (this.config.ADMIN_EMAILS ?? '')
      .split(',')
      .map((e) => e.trim().toLowerCase())
      .filter((e) => e.length > 0);
    const promoted = await this.identities.syncAdminEmails(this.db.maintenance(), emails);
    if (promoted.length > 0)
      this.logger.log(`ADMIN_EMAILS made ${promoted.length} user(s) admin: ${promoted.join(', ')}`);
  }
}
