import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { AuthContext } from '../auth/auth-context.js';
import { AppError } from '../common/app-error.js';
import { DatabaseService } from '../database/database.service.js';
import type { CreateUserDto, UpdateUserDto } from './users.dto.js';
import { UsersRepository, type UserRecord } from './users.repository.js';

@Injectable()
export class UsersService {
  constructor(
    private readonly db: DatabaseService,
    private readonly users: UsersRepository,
  ) {}

  /**
   * Creates a user. A JWT caller creates the profile of the token's subject, idempotently (a repeat returns
   * the existing profile unchanged, even when two first requests race); anyone else gets a new user with a
   * new id.
   */
  async create(
    auth: AuthContext | undefined,
    dto: CreateUserDto,
  ): Promise<{ user: UserRecord; created: boolean }> {
    const fields = {
      email: dto.email ?? null,
      displayName: dto.display_name ?? null,
      avatarUrl: dto.avatar_url ?? null,
    };
    if (auth?.via !== 'jwt') {
      const userId = randomUUID();
      return this.db.asNewUser(userId, async (tx) => ({
        user: await this.users.create(tx, userId, fields),
        created: true,
      }));
    }
    const userId = auth.userId;
    return this.db.asNewUser(userId, async (tx) => {
      const existing = await this.users.findById(tx, userId);
      if (existing) return { user: existing, created: false };
      const created = await this.users.createIfAbsent(tx, userId, fields);
      if (created) return { user: created, created: true };
      // A concurrent request created it between the two statements: that one answers 201, this one 200.
      const winner = await this.users.findById(tx, userId);
      if (!winner) throw AppError.notFound('User');
      return { user: winner, created: false };
    });
  }

  me(auth: AuthContext): Promise<UserRecord> {
    return this.db.asUser(auth, async (tx) => {
      const user = await this.users.findById(tx, auth.userId);
      if (!user) throw AppError.notFound('User');
      return user;
    });
  }

  update(auth: AuthContext, dto: UpdateUserDto): Promise<UserRecord> {
    return this.db.asUser(auth, (tx) =>
      this.users.update(tx, auth.userId, {
        email: dto.email,
        displayName: dto.display_name,
        avatarUrl: dto.avatar_url,
      }),
    );
  }

  async remove(auth: AuthContext): Promise<void> {
    const deleted = await this.db.asUser(auth, (tx) => this.users.deleteWithOwnedProjects(tx, auth.userId));
    if (!deleted) throw AppError.notFound('User');
  }
}
