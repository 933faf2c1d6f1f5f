import { Injectable } from '@nestjs/common';
import { prismaOf, sqlOf, type Tx } from '../database/database.service.js';
import { apiTimestamp } from '../database/timestamps.js';
import {
  INSERT_USER_IF_ABSENT,
  toUserRecord,
  USER_BY_ID,
  type UserRecord,
  type UserRow,
} from './users.sql.js';

export type { UserRecord } from './users.sql.js';

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

/** A Prisma result's Dates as the API's text. */
function withTextTimestamps(user: {
  userId: string;
  email: string | null;
  displayName: string | null;
  avatarUrl: string | null;
  createdAt: Date;
  updatedAt: Date;
}): UserRecord {
  return { ...user, createdAt: apiTimestamp(user.createdAt), updatedAt: apiTimestamp(user.updatedAt) };
}

/** SQL for the users table. Every method runs inside the caller's RLS transaction. */
@Injectable()
export class UsersRepository {
  async create(tx: Tx, userId: string, fields: UserFields): Promise<UserRecord> {
    return withTextTimestamps(
      await prismaOf(tx).user.create({ data: { userId, ...fields }, select: SELECT }),
    );
  }

  /**
   * Creates the user unless a row with this id exists (a concurrent create of the same JWT subject): null
   * then, instead of a unique violation. Other unique values (the email) still conflict.
   */
  async createIfAbsent(tx: Tx, userId: string, fields: UserFields): Promise<UserRecord | null> {
    const [row] = await sqlOf(tx).query<UserRow>(INSERT_USER_IF_ABSENT, [
      userId,
      fields.email ?? null,
      fields.displayName ?? null,
      fields.avatarUrl ?? null,
    ]);
    return row ? toUserRecord(row) : null;
  }

  /** The caller's profile (raw SQL: GET /users/me is a hot path, and Prisma's pipeline costs more than it). */
  async findById(tx: Tx, userId: string): Promise<UserRecord | null> {
    const [row] = await sqlOf(tx).query<UserRow>(USER_BY_ID, [userId]);
    return row ? toUserRecord(row) : null;
  }

  async update(tx: Tx, userId: string, fields: UserFields): Promise<UserRecord> {
    return withTextTimestamps(
      await prismaOf(tx).user.update({ where: { userId }, data: fields, select: SELECT }),
    );
  }

  /**
   * Removes the user and everything nobody else is left to keep, in the caller's transaction: every project
   * they created or belong to that has no other member (with its turns and sessions, by cascade), the legacy
   * turns they wrote (user_id = them) in projects that stay, then the user row (sessions, messages,
   * memberships and idempotency keys follow by cascade). docs/architecture.md, "Deleting an account".
   */
  async deleteWithOwnedProjects(tx: Tx, userId: string): Promise<boolean> {
    await prismaOf(tx).$executeRaw`
      DELETE FROM dossier d
       WHERE (d.created_by = ${userId}::uuid
              OR EXISTS (SELECT 1 FROM user_projects mine
                          WHERE mine.project_id = d.project_id AND mine.user_id = ${userId}::uuid))
         AND NOT EXISTS (SELECT 1 FROM user_projects up
                          WHERE up.project_id = d.project_id AND up.user_id <> ${userId}::uuid)`;
    await prismaOf(tx).$executeRaw`DELETE FROM turns WHERE user_id = ${userId}::uuid`;
    const deleted = await prismaOf(tx).$executeRaw`DELETE FROM users WHERE user_id = ${userId}::uuid`;
    return deleted === 1;
  }
}
