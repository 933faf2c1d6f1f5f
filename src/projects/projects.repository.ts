import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { ProjectCursor } from '../common/keyset-cursor.js';
import { prismaOf, type Tx } from '../database/database.service.js';
import { Prisma } from '../generated/prisma/client.js';

export interface ProjectRecord {
  projectId: string;
  title: string | null;
  createdBy: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A project as one member sees it: with their own last activity in it. */
export interface ProjectView extends ProjectRecord {
  lastActivityAt: Date;
}

export interface ProjectPage {
  projects: ProjectView[];
  /** Where the next page starts; null on the last page. */
  next: ProjectCursor | null;
}

/** A member with their public profile fields (never the email). */
export interface MemberRecord {
  userId: string;
  displayName: string | null;
  avatarUrl: string | null;
  isCreator: boolean;
  joinedAt: Date;
}

export type AddMemberResult = 'added' | 'already_member';

const SELECT = { projectId: true, title: true, createdBy: true, createdAt: true, updatedAt: true };

interface ProjectRow {
  project_id: string;
  title: string | null;
  created_by: string | null;
  created_at: Date;
  updated_at: Date;
  last_activity_at: Date;
  cursor_at: string;
}

interface MemberRow {
  user_id: string;
  display_name: string | null;
  avatar_url: string | null;
  is_creator: boolean;
  joined_at: Date;
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
    return project;
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
    const row = await prismaOf(tx).dossier.findUnique({ where: { projectId }, select: { projectId: true } });
    return row !== null;
  }

  /** The project, if the caller may see it (member or creator); RLS decides. */
  findById(tx: Tx, projectId: string): Promise<ProjectRecord | null> {
    return prismaOf(tx).dossier.findUnique({ where: { projectId }, select: SELECT });
  }

  async isMember(tx: Tx, projectId: string, userId: string): Promise<boolean> {
    const row = await prismaOf(tx).userProject.findUnique({
      where: { userId_projectId: { userId, projectId } },
      select: { userId: true },
    });
    return row !== null;
  }

  /** The project as `userId` sees it (RLS: member or creator), with that user's last activity in it. */
  async findView(tx: Tx, projectId: string, userId: string): Promise<ProjectView | null> {
    const [row] = await prismaOf(tx).$queryRaw<ProjectRow[]>`
      SELECT d.project_id, d.title, d.created_by, d.created_at, d.updated_at,
             COALESCE(up.last_activity_at, d.updated_at) AS last_activity_at, '' AS cursor_at
        FROM dossier d
        LEFT JOIN user_projects up ON up.project_id = d.project_id AND up.user_id = ${userId}::uuid
       WHERE d.project_id = ${projectId}::uuid`;
    return row ? toView(row) : null;
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
    const afterCursor = after
      ? Prisma.sql`AND (up.last_activity_at, up.project_id) < (${after.lastActivityAt}::timestamptz, ${after.projectId}::uuid)`
      : Prisma.empty;
    const rows = await prismaOf(tx).$queryRaw<ProjectRow[]>`
      SELECT d.project_id, d.title, d.created_by, d.created_at, d.updated_at, up.last_activity_at,
             to_char(up.last_activity_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at
        FROM user_projects up
        JOIN dossier d ON d.project_id = up.project_id
       WHERE up.user_id = ${userId}::uuid ${afterCursor}
       ORDER BY up.last_activity_at DESC, up.project_id DESC
       LIMIT ${limit + 1}::int`;
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      projects: page.map(toView),
      next:
        rows.length > limit && last ? { lastActivityAt: last.cursor_at, projectId: last.project_id } : null,
    };
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
    const rows = await prismaOf(tx).$queryRaw<MemberRow[]>`
      SELECT m.user_id, m.display_name, m.avatar_url, m.is_creator, m.joined_at
        FROM app.project_members(${projectId}::uuid) m`;
    return rows.map(toMember);
  }

  async findMember(tx: Tx, projectId: string, userId: string): Promise<MemberRecord | null> {
    const [row] = await prismaOf(tx).$queryRaw<MemberRow[]>`
      SELECT m.user_id, m.display_name, m.avatar_url, m.is_creator, m.joined_at
        FROM app.project_members(${projectId}::uuid) m
       WHERE m.user_id = ${userId}::uuid`;
    return row ? toMember(row) : null;
  }

  async countMembers(tx: Tx, projectId: string): Promise<number> {
    return prismaOf(tx).userProject.count({ where: { projectId } });
  }

  /** Whether a user with this id exists (the users table shows the caller only their own row). */
  async userExists(tx: Tx, userId: string): Promise<boolean> {
    const [row] = await prismaOf(tx).$queryRaw<
      { exists: boolean }[]
    >`SELECT app.user_exists(${userId}::uuid) AS exists`;
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

function toView(row: ProjectRow): ProjectView {
  return {
    projectId: row.project_id,
    title: row.title,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastActivityAt: row.last_activity_at,
  };
}

function toMember(row: MemberRow): MemberRecord {
  return {
    userId: row.user_id,
    displayName: row.display_name,
    avatarUrl: row.avatar_url,
    isCreator: row.is_creator,
    joinedAt: row.joined_at,
  };
}
