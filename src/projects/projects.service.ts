import { Injectable } from '@nestjs/common';
import type { AuthContext } from '../auth/auth-context.js';
import { AppError } from '../common/app-error.js';
import { PROJECT_CURSOR } from '../common/keyset-cursor.js';
import { DatabaseService, type Tx } from '../database/database.service.js';
import type { CreateProjectDto, ListProjectsQueryDto, UpdateProjectDto } from './projects.dto.js';
import { ProjectsRepository, type MemberRecord, type ProjectView } from './projects.repository.js';
import { DEFAULT_PROJECT_PAGE } from './projects.sql.js';

export interface ProjectListResult {
  projects: ProjectView[];
  nextCursor: string | null;
}

/**
 * The rules of projects and memberships. Every method runs in the caller's RLS transaction; the rules here
 * are checked first (for clear answers), and the policies underneath refuse the same things again.
 *
 * - A project is visible to its members (and its creator); anyone else gets 404, as for a missing id.
 * - Any member may rename it and add existing users. Only its creator may delete it (403 for other members);
 *   a project without a creator (legacy, or the creator's account was deleted) may be deleted by any member.
 * - A member may leave. Only the creator may remove other members (any member, in a project without a
 *   creator). The creator can be neither removed nor leave (403: delete the project instead); the last member
 *   of a project without a creator cannot leave either (409), so no project is left without members.
 */
@Injectable()
export class ProjectsService {
  constructor(
    private readonly db: DatabaseService,
    private readonly projects: ProjectsRepository,
  ) {}

  create(auth: AuthContext, dto: CreateProjectDto): Promise<ProjectView> {
    return this.db.asUser(auth, async (tx) => {
      const project = await this.projects.createForUser(tx, auth.userId, dto.title);
      return this.visible(tx, auth, project.projectId);
    });
  }

  async list(auth: AuthContext, query: ListProjectsQueryDto): Promise<ProjectListResult> {
    const after = query.cursor ? PROJECT_CURSOR.decode(query.cursor) : null;
    const limit = query.limit ?? DEFAULT_PROJECT_PAGE;
    const page = await this.db.asUser(auth, (tx) => this.projects.listForUser(tx, auth.userId, limit, after));
    return { projects: page.projects, nextCursor: page.next ? PROJECT_CURSOR.encode(page.next) : null };
  }

  get(auth: AuthContext, projectId: string): Promise<ProjectView> {
    return this.db.asUser(auth, (tx) => this.visible(tx, auth, projectId));
  }

  update(auth: AuthContext, projectId: string, dto: UpdateProjectDto): Promise<ProjectView> {
    return this.db.asUser(auth, async (tx) => {
      const project = await this.visible(tx, auth, projectId);
      if (dto.title === undefined) return project;
      if (!(await this.projects.updateTitle(tx, projectId, dto.title))) throw AppError.notFound('Project');
      return this.visible(tx, auth, projectId);
    });
  }

  remove(auth: AuthContext, projectId: string): Promise<void> {
    return this.db.asUser(auth, async (tx) => {
      const project = await this.visible(tx, auth, projectId);
      if (project.createdBy !== null && project.createdBy !== auth.userId)
        throw AppError.forbidden('Only the creator of the project may delete it');
      if (!(await this.projects.delete(tx, projectId))) throw AppError.notFound('Project');
    });
  }

  listMembers(auth: AuthContext, projectId: string): Promise<MemberRecord[]> {
    return this.db.asUser(auth, async (tx) => {
      await this.membership(tx, auth, projectId);
      return this.projects.listMembers(tx, projectId);
    });
  }

  /** Adds an existing user; a user who already belongs is not an error (`created: false`, answered 200). */
  addMember(
    auth: AuthContext,
    projectId: string,
    userId: string,
  ): Promise<{ member: MemberRecord; created: boolean }> {
    return this.db.asUser(auth, async (tx) => {
      await this.membership(tx, auth, projectId);
      const existing = await this.projects.findMember(tx, projectId, userId);
      if (existing) return { member: existing, created: false };
      if (!(await this.projects.userExists(tx, userId))) throw AppError.notFound('User');
      const result = await this.projects.addMember(tx, projectId, userId);
      const member = await this.projects.findMember(tx, projectId, userId);
      if (!member) throw AppError.notFound('User');
      return { member, created: result === 'added' };
    });
  }

  removeMember(auth: AuthContext, projectId: string, userId: string): Promise<void> {
    return this.db.asUser(auth, async (tx) => {
      const project = await this.membership(tx, auth, projectId);
      const member = await this.projects.findMember(tx, projectId, userId);
      if (!member) throw AppError.notFound('Member');
      if (member.isCreator)
        throw AppError.forbidden(
          'The creator of the project cannot leave or be removed; delete the project instead',
        );
      const leaving = userId === auth.userId;
      if (!leaving && project.createdBy !== null && project.createdBy !== auth.userId)
        throw AppError.forbidden('Only the creator of the project may remove other members');
      if ((await this.projects.countMembers(tx, projectId)) <= 1)
        throw AppError.conflict('The last member cannot leave; delete the project instead');
      if (!(await this.projects.removeMember(tx, projectId, userId))) throw AppError.notFound('Member');
    });
  }

  /** The project if the caller may see it; 404 otherwise (another user's project looks like a missing one). */
  private async visible(tx: Tx, auth: AuthContext, projectId: string): Promise<ProjectView> {
    const project = await this.projects.findView(tx, projectId, auth.userId);
    if (!project) throw AppError.notFound('Project');
    return project;
  }

  /** The project if the caller is a member of it; 404 otherwise. */
  private async membership(tx: Tx, auth: AuthContext, projectId: string): Promise<ProjectView> {
    const project = await this.visible(tx, auth, projectId);
    if (!(await this.projects.isMember(tx, projectId, auth.userId))) throw AppError.notFound('Project');
    return project;
  }
}
