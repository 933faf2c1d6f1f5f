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
   * the existing profile); anyone else gets a new user with a new id.
   */
  async create(
    auth: AuthContext | undefined,
    dto: CreateUserDto,
  ): Promise<{ user: UserRecord; created: boolean }> {
    const userId = auth?.via === 'jwt' ? auth.userId : randomUUID();
    const fields = {
      email: dto.email ?? null,
      displayName: dto.display_name ?? null,
      avatarUrl: dto.avatar_url ?? null,
    };
    return this.db.asNewUser(userId, async (tx) => {
      const existing = auth?.via === 'jwt' ? await this.users.findById(tx, userId) : null;
      if (existing) return { user: existing, created: false };
      return { user: await this.users.create(tx, userId, fields), created: true };
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
