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
