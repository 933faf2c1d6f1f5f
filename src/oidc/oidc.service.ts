import { Inject, Injectable, Logger } from '@nestjs/common';
import type { AuthContext } from '../auth/auth-context.js';
import { AppError } from '../common/app-error.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { DatabaseService } from '../database/database.service.js';
import { IdentitiesRepository } from './identities.repository.js';
import { OidcVerifier } from './oidc-verifier.js';

/**
 * Bearer tokens of the configured OpenID Connect providers: verified by OidcVerifier, then mapped from
 * (issuer, subject) to a Parley user, provisioning one on first sight when allowed (OIDC_AUTO_PROVISION,
 * OIDC_ALLOWED_EMAIL_DOMAINS) or linking by verified email when configured (OIDC_LINK_VERIFIED_EMAIL).
 */
@Injectable()
export class OidcService {
  private readonly logger = new Logger('OIDC');
  private readonly allowedDomains?: string[];

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly verifier: OidcVerifier,
    private readonly db: DatabaseService,
    private readonly identities: IdentitiesRepository,
  ) {
    this.allowedDomains = config.OIDC_ALLOWED_EMAIL_DOMAINS?.toLowerCase().split(',');
  }

  /** The caller of a configured provider's token; undefined when the token is not from one (another JWT). */
  async authenticate(token: string): Promise<AuthContext | undefined> {
    const provider = this.verifier.providerOf(token);
    if (!provider) return undefined;
    const { claims } = await this.verifier.verify(token, provider);
    const email = typeof claims.email === 'string' && claims.email.length <= 254 ? claims.email : null;
    const emailVerified = email !== null && claims.email_verified === true;
    const domainAllowed =
      !this.allowedDomains ||
      (emailVerified && this.allowedDomains.includes(email.slice(email.lastIndexOf('@') + 1).toLowerCase()));
    const found = await this.db.asNobody((tx) =>
      this.identities.signIn(
        tx,
        {
          issuer: provider.issuer,
          subject: String(claims.sub),
          email,
          emailVerified,
          name: typeof claims.name === 'string' ? claims.name : null,
          picture: typeof claims.picture === 'string' ? claims.picture : null,
        },
        {
          provision: this.config.OIDC_AUTO_PROVISION && domainAllowed,
          link: this.config.OIDC_LINK_VERIFIED_EMAIL && domainAllowed,
        },
      ),
    );
    if (!found) {
      throw AppError.forbidden(
        !this.config.OIDC_AUTO_PROVISION
          ? 'This identity has no Parley account, and accounts are not created on sign-in (OIDC_AUTO_PROVISION=false)'
          : 'This identity has no Parley account, and only a verified email in an allowed domain may create one',
      );
    }
    if (found.outcome !== 'known')
      this.logger.log(
        `${found.outcome} user ${found.userId} for ${provider.issuer} subject ${String(claims.sub)}`,
      );
    return { userId: found.userId, via: 'jwt' };
  }
}
