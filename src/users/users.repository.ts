import { Injectable } from '@nestjs/common';
import type { Tx } from '../database/database.service.js';

export interface UserRecord {
  userId: string;
  email: string | null;
  displayName: string | null;
  avatarUrl: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface UserFields {
  email?: string | null;
  displayName?: string | null;
  avatarUrl?: string | null;
}

interface UserRow {
  user_id: string;
  email: string | null;
  display_name: string | null;
  avatar_url: string | null;
  created_at: Date;
  updated_at: Date;
}

const SELECT = {
  userId: true,
  email: true,
  displayName: true,
  avatarUrl: true,
  createdAt: true,
  updatedAt: true,
};

/** SQL for the users table. Every method runs inside the caller's RLS transaction. */
@Injectable()
export class UsersRepository {
  create(tx: Tx, userId: string, fields: UserFields): Promise<UserRecord> {
    return tx.user.create({ data: { userId, ...fields }, select: SELECT });
  }

  /**
   * Creates the user unless a row with this id exists (a concurrent create of the same JWT subject): null
   * then, instead of a unique violation. Other unique values (the email) still conflict.
   */
  async createIfAbsent(tx: Tx, userId: string, fields: UserFields): Promise<UserRecord | null> {
    const [row] = await tx.$queryRaw<UserRow[]>`
      INSERT INTO users (user_id, email, display_name, avatar_url)
      VALUES (${userId}::uuid, ${fields.email ?? null}, ${fields.displayName ?? null}, ${fields.avatarUrl ?? null})
      ON CONFLICT (user_id) DO NOTHING
      RETURNING user_id, email, display_name, avatar_url, created_at, updated_at`;
    return row
      ? {
          userId: row.user_id,
          email: row.email,
          displayName: row.display_name,
          avatarUrl: row.avatar_url,
          createdAt: row.created_at,
          updatedAt: row.updated_at,
        }
      : null;
  }

  findById(tx: Tx, userId: string): Promise<UserRecord | null> {
    return tx.user.findUnique({ where: { userId }, select: SELECT });
  }

  update(tx: Tx, userId: string, fields: UserFields): Promise<UserRecord> {
    return tx.user.update({ where: { userId }, data: fields, select: SELECT });
  }

  /**
   * Removes the user and everything they own: projects they created that nobody else belongs to, then the
   * user row (sessions, messages, memberships and idempotency keys follow by cascade; legacy turns stay).
   */
  async deleteWithOwnedProjects(tx: Tx, userId: string): Promise<boolean> {
    await tx.$executeRaw`
      DELETE FROM dossier d
       WHERE d.created_by = ${userId}::uuid
         AND NOT EXISTS (SELECT 1 FROM user_projects up
                          WHERE up.project_id = d.project_id AND up.user_id <> ${userId}::uuid)`;
    const deleted = await tx.$executeRaw`DELETE FROM users WHERE user_id = ${userId}::uuid`;
    return deleted === 1;
  }
}
