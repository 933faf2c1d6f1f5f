import { Injectable } from '@nestjs/common';
import type { AuthContext } from '../auth/auth-context.js';
import { AppError } from '../common/app-error.js';
import { DatabaseService, type Tx } from '../database/database.service.js';
import { UsersRepository } from '../users/users.repository.js';
import type { AuditQueryDto, ListAdminUsersQueryDto, UsageQueryDto } from './admin.dto.js';
import {
  AdminRepository,
  type AdminUserDetail,
  type AdminUserRecord,
  type AuditEntry,
  type UsageRow,
  type UserRole,
} from './admin.repository.js';
import { ADMIN_USER_CURSOR, AUDIT_CURSOR } from './admin.sql.js';

/** An administrator's request: who acts, and the request id the audit log records. */
export interface AdminActor {
  auth: AuthContext;
  requestId: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const MAX_USAGE_DAYS = 366;

/**
 * Administration. Every method runs in one admin transaction (DatabaseService.asAdmin: 403 unless the caller
 * is an enabled admin, and the admin role's policies ask the same of every row) and appends what it did to
 * the audit log in that transaction, reads included: the action and the log entry commit together or not at all.
 */
@Injectable()
export class AdminService {
  constructor(
    private readonly db: DatabaseService,
    private readonly admin: AdminRepository,
    private readonly users: UsersRepository,
  ) {}

  private run<T>(
    actor: AdminActor,
    action: string,
    target: { type: string; id: string } | undefined,
    work: (tx: Tx) => Promise<T>,
    details?: (result: T) => Record<string, unknown> | undefined,
  ): Promise<T> {
    return this.db.asAdmin(actor.auth, async (tx) => {
      const result = await work(tx);
      await this.admin.audit(tx, {
        actorId: actor.auth.userId,
        action,
        targetType: target?.type,
        targetId: target?.id,
        requestId: actor.requestId,
        details: details?.(result),
      });
      return result;
    });
  }

  async listUsers(
    actor: AdminActor,
    query: ListAdminUsersQueryDto,
  ): Promise<{ users: AdminUserRecord[]; nextCursor: string | null }> {
    const limit = query.limit ?? 20;
    const after = query.cursor ? ADMIN_USER_CURSOR.decode(query.cursor) : undefined;
    const rows = await this.run(
      actor,
      'users.list',
      undefined,
      (tx) => this.admin.listUsers(tx, { limit: limit + 1, after, search: query.q }),
      () => (query.q ? { q: query.q } : undefined),
    );
    const users = rows.slice(0, limit);
    const last = users[users.length - 1];
    return {
      users,
      nextCursor:
        rows.length > limit && last
          ? ADMIN_USER_CURSOR.encode({ createdAt: last.cursorAt, userId: last.userId })
          : null,
    };
  }

  async getUser(actor: AdminActor, userId: string): Promise<AdminUserDetail> {
    const user = await this.run(actor, 'users.get', { type: 'user', id: userId }, (tx) =>
      this.admin.findUser(tx, userId),
    );
    if (!user) throw AppError.notFound('User');
    return user;
  }

  setRole(actor: AdminActor, userId: string, role: UserRole): Promise<AdminUserRecord> {
    return this.run(
      actor,
      'users.role',
      { type: 'user', id: userId },
      async (tx) => {
        // Checked inside the admin transaction, so a non-admin is refused (403) before this.
        if (userId === actor.auth.userId && role !== 'admin')
          throw AppError.conflict('An administrator cannot demote themselves; another admin can');
        return (await this.admin.setRole(tx, userId, role)) ?? notFound();
      },
      () => ({ role }),
    );
  }

  /** Disabling takes effect on the user's next request: every token, key and refresh is refused from then on. */
  setDisabled(actor: AdminActor, userId: string, disabled: boolean): Promise<AdminUserRecord> {
    return this.run(
      actor,
      disabled ? 'users.disable' : 'users.enable',
      { type: 'user', id: userId },
      async (tx) => {
        if (userId === actor.auth.userId && disabled)
          throw AppError.conflict('An administrator cannot disable themselves; another admin can');
        return (await this.admin.setDisabled(tx, userId, disabled)) ?? notFound();
      },
    );
  }

  /** Deletes the user with all their data, as deleting their own account does (docs/architecture.md). */
  async deleteUser(actor: AdminActor, userId: string): Promise<void> {
    await this.run(actor, 'users.delete', { type: 'user', id: userId }, async (tx) => {
      if (userId === actor.auth.userId)
        throw AppError.conflict(
          'An administrator cannot delete themselves here; use DELETE /api/v1/users/me',
        );
      if (!(await this.users.deleteWithOwnedProjects(tx, userId))) notFound();
    });
  }

  async usage(
    actor: AdminActor,
    query: UsageQueryDto,
  ): Promise<{ from: string; to: string; rows: UsageRow[] }> {
    const to = query.to ?? new Date().toISOString().slice(0, 10);
    const from = query.from ?? new Date(Date.parse(to) - 29 * DAY_MS).toISOString().slice(0, 10);
    const days = (Date.parse(to) - Date.parse(from)) / DAY_MS + 1;
    if (days < 1) throw invalid('from', 'must not be after to');
    if (days > MAX_USAGE_DAYS) throw invalid('from', `must be at most ${MAX_USAGE_DAYS} days before to`);
    const end = new Date(Date.parse(to) + DAY_MS).toISOString();
    const rows = await this.run(
      actor,
      'usage.read',
      query.user_id ? { type: 'user', id: query.user_id } : undefined,
      (tx) => this.admin.usage(tx, `${from}T00:00:00.000Z`, end, query.user_id ?? null),
      () => ({ from, to }),
    );
    return { from, to, rows };
  }

  async auditLog(
    actor: AdminActor,
    query: AuditQueryDto,
  ): Promise<{ entries: AuditEntry[]; nextCursor: string | null }> {
    const limit = query.limit ?? 50;
    const after = query.cursor ? AUDIT_CURSOR.decode(query.cursor) : undefined;
    const rows = await this.run(actor, 'audit.read', undefined, (tx) =>
      this.admin.auditPage(tx, { limit: limit + 1, after, action: query.action, targetId: query.target }),
    );
    const entries = rows.slice(0, limit);
    const last = entries[entries.length - 1];
    return {
      entries,
      nextCursor:
        rows.length > limit && last
          ? AUDIT_CURSOR.encode({ at: last.cursorAt, auditId: last.auditId })
          : null,
    };
  }
}

function notFound(): never {
  throw AppError.notFound('User');
}

function invalid(field: string, message: string): AppError {
  return AppError.validation(`Invalid request: ${field}: ${message}`, [{ field, message }]);
}
