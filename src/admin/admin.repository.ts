import { Injectable } from '@nestjs/common';
import { sqlOf, type Tx } from '../database/database.service.js';
import {
  ADMIN_USER_DETAIL,
  ADMIN_USER_PAGE,
  AUDIT_PAGE,
  INSERT_AUDIT,
  SET_DISABLED,
  SET_ROLE,
  USAGE,
} from './admin.sql.js';

export type UserRole = 'user' | 'admin';

export interface AdminUserRecord {
  userId: string;
  email: string | null;
  displayName: string | null;
  avatarUrl: string | null;
  role: UserRole;
  disabledAt: string | null;
  createdAt: string;
  updatedAt: string;
  /** created_at at microsecond precision, for the list's cursor. */
  cursorAt: string;
}

export interface AdminUserDetail extends AdminUserRecord {
  projectCount: number;
  sessionCount: number;
  messageCount: number;
  apiKeyCount: number;
  lastActiveAt: string;
}

export interface UsageRow {
  userId: string;
  day: string;
  model: string;
  replies: number;
  inputTokens: number;
  outputTokens: number;
}

export interface AuditEntry {
  auditId: string;
  at: string;
  actorId: string;
  action: string;
  targetType: string | null;
  targetId: string | null;
  requestId: string | null;
  details: Record<string, unknown> | null;
  cursorAt: string;
}

interface UserRow {
  user_id: string;
  email: string | null;
  display_name: string | null;
  avatar_url: string | null;
  role: UserRole;
  disabled_at: string | null;
  created_at: string;
  updated_at: string;
  cursor_at: string;
}

const toUser = (row: UserRow): AdminUserRecord => ({
  userId: row.user_id,
  email: row.email,
  displayName: row.display_name,
  avatarUrl: row.avatar_url,
  role: row.role,
  disabledAt: row.disabled_at,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  cursorAt: row.cursor_at,
});

interface AuditRow {
  audit_id: string;
  at: string;
  actor_id: string;
  action: string;
  target_type: string | null;
  target_id: string | null;
  request_id: string | null;
  details: Record<string, unknown> | string | null;
  cursor_at: string;
}

const toAudit = (row: AuditRow): AuditEntry => ({
  auditId: row.audit_id,
  at: row.at,
  actorId: row.actor_id,
  action: row.action,
  targetType: row.target_type,
  targetId: row.target_id,
  requestId: row.request_id,
  details:
    typeof row.details === 'string' ? (JSON.parse(row.details) as Record<string, unknown>) : row.details,
  cursorAt: row.cursor_at,
});

/**
 * The administrators' SQL, run in an admin transaction (DatabaseService.asAdmin: role parley_admin, whose
 * policies show rows only to an enabled admin). Writes only what the admin role may: users' role and
 * disabled_at, and the audit log.
 */
@Injectable()
export class AdminRepository {
  async listUsers(
    tx: Tx,
    page: { limit: number; after?: { createdAt: string; userId: string }; search?: string },
  ): Promise<AdminUserRecord[]> {
    const rows = await sqlOf(tx).query<UserRow>(ADMIN_USER_PAGE, [
      page.limit,
      page.after?.createdAt ?? null,
      page.after?.userId ?? null,
      page.search ?? null,
    ]);
    return rows.map(toUser);
  }

  async findUser(tx: Tx, userId: string): Promise<AdminUserDetail | null> {
    const [row] = await sqlOf(tx).query<
      UserRow & {
        project_count: number;
        session_count: number;
        message_count: number;
        api_key_count: number;
        last_active_at: string;
      }
    >(ADMIN_USER_DETAIL, [userId]);
    if (!row) return null;
    return {
      ...toUser(row),
      projectCount: row.project_count,
      sessionCount: row.session_count,
      messageCount: row.message_count,
      apiKeyCount: row.api_key_count,
      lastActiveAt: row.last_active_at,
    };
  }

  async setRole(tx: Tx, userId: string, role: UserRole): Promise<AdminUserRecord | null> {
    const [row] = await sqlOf(tx).query<UserRow>(SET_ROLE, [userId, role]);
    return row ? toUser(row) : null;
  }

  async setDisabled(tx: Tx, userId: string, disabled: boolean): Promise<AdminUserRecord | null> {
    const [row] = await sqlOf(tx).query<UserRow>(SET_DISABLED, [userId, disabled]);
    return row ? toUser(row) : null;
  }

  async usage(tx: Tx, from: string, to: string, userId: string | null): Promise<UsageRow[]> {
    const rows = await sqlOf(tx).query<{
      user_id: string;
      day: string;
      model: string;
      replies: number;
      input_tokens: string;
      output_tokens: string;
    }>(USAGE, [from, to, userId]);
    return rows.map((r) => ({
      userId: r.user_id,
      day: r.day,
      model: r.model,
      replies: r.replies,
      inputTokens: Number(r.input_tokens),
      outputTokens: Number(r.output_tokens),
    }));
  }

  async audit(
    tx: Tx,
    entry: {
      actorId: string;
      action: string;
      targetType?: string;
      targetId?: string;
      requestId: string;
      details?: Record<string, unknown>;
    },
  ): Promise<AuditEntry> {
    const [row] = await sqlOf(tx).query<AuditRow>(INSERT_AUDIT, [
      entry.actorId,
      entry.action,
      entry.targetType ?? null,
      entry.targetId ?? null,
      entry.requestId,
      entry.details ? JSON.stringify(entry.details) : null,
    ]);
    return toAudit(row);
  }

  async auditPage(
    tx: Tx,
    page: { limit: number; after?: { at: string; auditId: string }; action?: string; targetId?: string },
  ): Promise<AuditEntry[]> {
    const rows = await sqlOf(tx).query<AuditRow>(AUDIT_PAGE, [
      page.limit,
      page.after?.at ?? null,
      page.after?.auditId ?? null,
      page.action ?? null,
      page.targetId ?? null,
    ]);
    return rows.map(toAudit);
  }
}
