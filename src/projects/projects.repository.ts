import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Tx } from '../database/database.service.js';

export interface ProjectRecord {
  projectId: string;
  title: string | null;
  createdBy: string | null;
  createdAt: Date;
  updatedAt: Date;
}

const SELECT = { projectId: true, title: true, createdBy: true, createdAt: true, updatedAt: true };

/** SQL for projects (the `dossier` table) and their memberships (`user_projects`). */
@Injectable()
export class ProjectsRepository {
  /**
   * Creates a project and makes the user its first member, in the caller's transaction. The dossier's
   * SELECT policy admits its creator, so INSERT ... RETURNING works before the membership row exists.
   */
  async createForUser(tx: Tx, userId: string, title: string | null): Promise<ProjectRecord> {
    const project = await tx.dossier.create({
      data: { projectId: randomUUID(), title, createdBy: userId },
      select: SELECT,
    });
    await tx.userProject.create({ data: { userId, projectId: project.projectId }, select: { userId: true } });
    return project;
  }

  /** The project, if the caller may see it (member or creator); RLS decides. */
  findById(tx: Tx, projectId: string): Promise<ProjectRecord | null> {
    return tx.dossier.findUnique({ where: { projectId }, select: SELECT });
  }

  async isMember(tx: Tx, projectId: string, userId: string): Promise<boolean> {
    const row = await tx.userProject.findUnique({
      where: { userId_projectId: { userId, projectId } },
      select: { userId: true },
    });
    return row !== null;
  }
}
