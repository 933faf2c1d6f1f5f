import { Injectable } from '@nestjs/common';
import { sqlOf, type Tx } from '../database/database.service.js';
import type { SqlExecutor } from '../database/sql-executor.js';

export interface SignInClaims {
  issuer: string;
  subject: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
  picture: string | null;
}

/** SQL for external_identities (and admin_emails, which the service writes at start). */
@Injectable()
export class IdentitiesRepository {
  /** app.oidc_sign_in(): the identity's user (known, linked or provisioned), or undefined. */
  async signIn(
    tx: Tx,
    claims: SignInClaims,
    policy: { provision: boolean; link: boolean },
  ): Promise<{ userId: string; outcome: 'known' | 'linked' | 'provisioned' } | undefined> {
    const [row] = await sqlOf(tx).query<{ caller: string; outcome: 'known' | 'linked' | 'provisioned' }>(
      `SELECT caller, outcome FROM app.oidc_sign_in($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        claims.issuer,
        claims.subject,
        claims.email,
        claims.emailVerified,
        claims.name,
        claims.picture,
        policy.provision,
        policy.link,
      ],
    );
    return row ? { userId: row.caller, outcome: row.outcome } : undefined;
  }

  /**
   * MAINTENANCE: makes admin_emails the given list, and makes admins of the users whose email a provider has
   * verified to be one of them. Idempotent (several instances may start together). Returns the users promoted.
   */
  async syncAdminEmails(sql: SqlExecutor, emails: string[]): Promise<string[]> {
    await sql.query(`DELETE FROM admin_emails WHERE NOT (email = ANY($1::text[]))`, [emails]);
    await sql.query(
      `INSERT INTO admin_emails (email) SELECT unnest($1::text[]) ON CONFLICT (email) DO NOTHING`,
      [emails],
    );
    const promoted = await sql.query<{ user_id: string }>(
      `UPDATE users SET role = 'admin'
        WHERE role = 'user' AND user_id IN (SELECT e.user_id FROM external_identities e
                                             WHERE e.email_verified AND lower(e.email) = ANY($1::text[]))
        RETURNING user_id::text`,
      [emails],
    );
    return promoted.map((r) => r.user_id);
  }
}
