import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { ProjectCursor } from '../common/keyset-cursor.js';
import { prismaOf, sqlOf, type Tx } from '../database/database.service.js';
import { apiTimestamp } from '../database/timestamps.js';
import {
  COUNT_MEMBERS,
  FIND_MEMBER,
  IS_MEMBER,
  LIST_MEMBERS,
  LIST_PROJECTS,
  LIST_PROJECTS_AFTER,
  PROJECT_BY_ID,
  PROJECT_VIEW,
  projectPageOfRows,
  toMemberRecord,
  toProjectRecord,
  toProjectView,
  USER_EXISTS,
  type MemberRecord,
  type MemberRow,
  type ProjectRecord,
  type ProjectRow,
  type ProjectView,
  type ProjectViewRow,
} from './projects.sql.js';

export type { MemberRecord, ProjectRecord, ProjectView } from './projects.sql.js';

export interface ProjectPage {
  projects: ProjectView[];
  /** Where the next page starts; null on the last page. */
  next: ProjectCursor | null;
}

export type AddMemberResult = 'added' | 'already_member';

const SELECT = { projectId: true, title: true, createdBy: true, createdAt: true, updatedAt: true };

/** A Prisma result's Dates as the API's text. */
function withTextTimestamps(project: {
  projectId: string;
  title: string | null;
  createdBy: string | null;
  createdAt: Date;
  updatedAt: Date;
}): ProjectRecord {
  return {
    ...project,
    createdAt: apiTimestamp(project.createdAt),
    updatedAt: apiTimestamp(project.updatedAt),
  };
}

/** SQL for projects (the `dossier` table) and their memberships (`user_projects`), in the caller's RLS transaction. */
@Injectable()
export class ProjectsRepository {
  /**
   * Creates a project and makes the user its first member, in the caller's transaction. The dossier's
   * SELECT policy admits its creator, so INSERT ... RETURNING works before the membership row exists.
   */
  async createForUser(tx: Tx, userId: string, title: string | null): Promise<ProjectRecord> {
    const project = await prismaOf(tx).dossier.create({
      data: { projectId: randomUUID(), title, createdBy: userId },
      select: SELECT,
    });
    await prismaOf(tx).userProject.create({
      data: { userId, projectId: project.projectId },
      select: { userId: true },
    });
    return withTextTimestamps(project);
  }

  /** A project nobody is a member of and without a creator: what an anonymous legacy POST /chat starts. */
  createWithoutMembers(tx: Tx, title: string | null): Promise<{ projectId: string }> {
    return prismaOf(tx).dossier.create({
      data: { projectId: randomUUID(), title, createdBy: null },
      select: { projectId: true },
    });
  }

  /** Whether the project exists and the transaction's role may see it (RLS decides). */
  async isVisible(tx: Tx, projectId: string): Promise<boolean> {
    return (await this.findById(tx, projectId)) !== null;
  }

  /** The project, if the caller may see it (member or creator); RLS decides. */
  async findById(tx: Tx, projectId: string): Promise<ProjectRecord | null> {
    const [row] = await sqlOf(tx).query<ProjectRow>(PROJECT_BY_ID, [projectId]);
    return row ? toProjectRecord(row) : null;
  }

  async isMember(tx: Tx, projectId: string, userId: string): Promise<boolean> {
    return (await sqlOf(tx).query(IS_MEMBER, [userId, projectId])).length > 0;
  }

  /** The project as `userId` sees it (RLS: member or creator), with that user's last activity in it. */
  async findView(tx: Tx, projectId: string, userId: string): Promise<ProjectView | null> {
    const [row] = await sqlOf(tx).query<ProjectViewRow>(PROJECT_VIEW, [projectId, userId]);
    return row ? toProjectView(row) : null;
  }

  /**
   * A page of the projects `userId` belongs to, newest last_activity_at first (ties by project_id), read
   * from the (user_id, last_activity_at DESC, project_id DESC) index. One row more than the page is fetched to
   * learn whether another page follows.
   */
  async listForUser(
    tx: Tx,
    userId: string,
    limit: number,
    after: ProjectCursor | null,
  ): Promise<ProjectPage> {
    const rows = await sqlOf(tx).query<ProjectViewRow>(
      after ? LIST_PROJECTS_AFTER : LIST_PROJECTS,
      after ? [userId, limit + 1, after.lastActivityAt, after.projectId] : [userId, limit + 1],
    );
    const { page, next } = projectPageOfRows(rows, limit);
    return { projects: page.map(toProjectView), next };
  }

  /** Sets the title; false when RLS hides the project from the caller (not a member). */
  async updateTitle(tx: Tx, projectId: string, title: string | null): Promise<boolean> {
    const { count } = await prismaOf(tx).dossier.updateMany({ where: { projectId }, data: { title } });
    return count === 1;
  }

  /** Deletes the project (sessions, memberships and turns cascade); false when RLS refuses or it is gone. */
  async delete(tx: Tx, projectId: string): Promise<boolean> {
    const { count } = await prismaOf(tx).dossier.deleteMany({ where: { projectId } });
    return count === 1;
  }

  /** The members, in the order they joined; empty unless the caller belongs to the project. */
  async listMembers(tx: Tx, projectId: string): Promise<MemberRecord[]> {
    return (await sqlOf(tx).query<MemberRow>(LIST_MEMBERS, [projectId])).map(toMemberRecord);
  }

  async findMember(tx: Tx, projectId: string, userId: string): Promise<MemberRecord | null> {
    const [row] = await sqlOf(tx).query<MemberRow>(FIND_MEMBER, [projectId, userId]);
    return row ? toMemberRecord(row) : null;
  }

  async countMembers(tx: Tx, projectId: string): Promise<number> {
    const [row] = await sqlOf(tx).query<{ count: number }>(COUNT_MEMBERS, [projectId]);
    return row?.count ?? 0;
  }

  /** Whether a user with this id exists (the users table shows the caller only their own row). */
  async userExists(tx: Tx, userId: string): Promise<boolean> {
    const [row] = await sqlOf(tx).query<{ exists: boolean }>(USER_EXISTS, [userId]);
    return row?.exists === true;
  }

  /**
   * Adds an existing user to the project; RLS lets only members add. A concurrent add of the same user
   * is not an error (ON CONFLICT DO NOTHING), it is 'already_member'.
   */
  async addMember(tx: Tx, projectId: string, userId: string): Promise<AddMemberResult> {
    const inserted = await prismaOf(tx).$executeRaw`
      INSERT INTO user_projects (user_id, project_id) VALUES (${userId}::uuid, ${projectId}::uuid)
      ON CONFLICT (user_id, project_id) DO NOTHING`;
    return inserted === 1 ? 'added' : 'already_member';
  }

  /** Ends a membership (a trigger removes that member's sessions in the project); false when there was none. */
  async removeMember(tx: Tx, projectId: string, userId: string): Promise<boolean> {
    const { count } = await prismaOf(tx).userProject.deleteMany({ where: { projectId, userId } });
    return count === 1;
  }
}
