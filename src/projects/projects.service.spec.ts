import { randomUUID } from 'node:crypto';
import type { AuthContext } from '../auth/auth-context.js';
import { AppError } from '../common/app-error.js';
import { PROJECT_CURSOR, type ProjectCursor } from '../common/keyset-cursor.js';
import type { DatabaseService, Tx } from '../database/database.service.js';
import type {
  AddMemberResult,
  MemberRecord,
  ProjectPage,
  ProjectRecord,
  ProjectsRepository,
  ProjectView,
} from './projects.repository.js';
import { ProjectsService } from './projects.service.js';

const tx = {} as Tx;

/** Runs the work with a dummy transaction: the repository below is the whole database. */
const db = {
  asUser: <T>(_auth: AuthContext, work: (t: Tx) => Promise<T>) => work(tx),
} as unknown as DatabaseService;

/**
 * An in-memory stand-in for ProjectsRepository with the visibility rules of RLS (a project is visible to its
 * members and creator). It records what it was asked to change, so tests can assert nothing happened.
 */
class FakeProjects {
  projects = new Map<string, ProjectRecord>();
  members = new Map<string, Map<string, Date>>();
  users = new Set<string>();
  changes: string[] = [];
  lastList?: { limit: number; after: ProjectCursor | null };
  /** The caller, as RLS would know it. */
  caller = '';

  project(createdBy: string | null, ...memberIds: string[]): string {
    const projectId = randomUUID();
    const now = new Date();
    this.projects.set(projectId, { projectId, title: 'p', createdBy, createdAt: now, updatedAt: now });
    this.members.set(projectId, new Map(memberIds.map((id) => [id, now])));
    return projectId;
  }

  private visibleTo(projectId: string, userId: string): ProjectRecord | undefined {
    const project = this.projects.get(projectId);
    if (!project) return undefined;
    return project.createdBy === userId || this.members.get(projectId)?.has(userId) ? project : undefined;
  }

  async createForUser(_tx: Tx, userId: string, title: string | null): Promise<ProjectRecord> {
    const id = this.project(userId, userId);
    const project = { ...this.projects.get(id)!, title };
    this.projects.set(id, project);
    return project;
  }
  async findView(_tx: Tx, projectId: string, userId: string): Promise<ProjectView | null> {
    const project = this.visibleTo(projectId, userId);
    return project ? { ...project, lastActivityAt: project.updatedAt } : null;
  }
  async isMember(_tx: Tx, projectId: string, userId: string): Promise<boolean> {
    return this.members.get(projectId)?.has(userId) ?? false;
  }
  async listForUser(
    _tx: Tx,
    _userId: string,
    limit: number,
    after: ProjectCursor | null,
  ): Promise<ProjectPage> {
    this.lastList = { limit, after };
    return { projects: [], next: { lastActivityAt: '2026-11-26T09:24:36.123456Z', projectId: randomUUID() } };
  }
  async updateTitle(_tx: Tx, projectId: string, title: string | null): Promise<boolean> {
    this.changes.push(`title ${projectId}`);
    const project = this.projects.get(projectId)!;
    this.projects.set(projectId, { ...project, title, updatedAt: new Date() });
    return true;
  }
  async delete(_tx: Tx, projectId: string): Promise<boolean> {
    this.changes.push(`delete ${projectId}`);
    return this.projects.delete(projectId);
  }
  async findMember(_tx: Tx, projectId: string, userId: string): Promise<MemberRecord | null> {
    if (!this.members.get(projectId)?.has(this.caller)) return null;
    const joinedAt = this.members.get(projectId)?.get(userId);
    if (!joinedAt) return null;
    const isCreator = this.projects.get(projectId)?.createdBy === userId;
    return { userId, displayName: null, avatarUrl: null, isCreator, joinedAt };
  }
  async countMembers(_tx: Tx, projectId: string): Promise<number> {
    return this.members.get(projectId)?.size ?? 0;
  }
  async userExists(_tx: Tx, userId: string): Promise<boolean> {
    return this.users.has(userId);
  }
  async addMember(_tx: Tx, projectId: string, userId: string): Promise<AddMemberResult> {
    this.changes.push(`add ${userId}`);
    this.members.get(projectId)!.set(userId, new Date());
    return 'added';
  }
  async removeMember(_tx: Tx, projectId: string, userId: string): Promise<boolean> {
    this.changes.push(`remove ${userId}`);
    return this.members.get(projectId)!.delete(userId);
  }
}

async function errorOf(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected an AppError');
}

describe('ProjectsService rules', () => {
  let repo: FakeProjects;
  let service: ProjectsService;
  const creator = randomUUID();
  const member = randomUUID();
  const other = randomUUID();
  const as = (userId: string): AuthContext => {
    repo.caller = userId;
    return { userId, via: 'header' };
  };

  beforeEach(() => {
    repo = new FakeProjects();
    repo.users = new Set([creator, member, other]);
    service = new ProjectsService(db, repo as unknown as ProjectsRepository);
  });

  describe('delete', () => {
    it('the creator may delete', async () => {
      const id = repo.project(creator, creator, member);
      await service.remove(as(creator), id);
      expect(repo.projects.has(id)).toBe(false);
    });

    it('another member gets 403 and nothing is deleted', async () => {
      const id = repo.project(creator, creator, member);
      expect((await errorOf(service.remove(as(member), id))).code).toBe('forbidden');
      expect(repo.changes).toEqual([]);
    });

    it('any member may delete a project without a creator', async () => {
      const id = repo.project(null, creator, member);
      await service.remove(as(member), id);
      expect(repo.projects.has(id)).toBe(false);
    });

    it('a non-member gets 404, as for a missing id', async () => {
      const id = repo.project(creator, creator);
      const error = await errorOf(service.remove(as(other), id));
      expect([error.code, error.message]).toEqual(['not_found', 'Project not found']);
      expect((await errorOf(service.remove(as(other), randomUUID()))).message).toBe('Project not found');
    });
  });

  describe('update', () => {
    it('an empty change touches nothing and returns the project', async () => {
      const id = repo.project(creator, creator, member);
      const project = await service.update(as(member), id, {});
      expect(project.projectId).toBe(id);
      expect(repo.changes).toEqual([]);
    });

    it('any member may rename; a non-member gets 404', async () => {
      const id = repo.project(creator, creator, member);
      expect((await service.update(as(member), id, { title: 'New' })).title).toBe('New');
      expect((await errorOf(service.update(as(other), id, { title: 'x' }))).code).toBe('not_found');
    });
  });

  describe('members', () => {
    it('adding an existing member is not an error and changes nothing', async () => {
      const id = repo.project(creator, creator, member);
      const result = await service.addMember(as(creator), id, member);
      expect(result.created).toBe(false);
      expect(repo.changes).toEqual([]);
    });

    it('adding an unknown user is 404 User; adding a known one creates the membership', async () => {
      const id = repo.project(creator, creator);
      const error = await errorOf(service.addMember(as(creator), id, randomUUID()));
      expect(error.message).toBe('User not found');
      const added = await service.addMember(as(creator), id, other);
      expect(added).toMatchObject({ created: true, member: { userId: other, isCreator: false } });
    });

    it('a non-member cannot add anyone (404 Project), even the creator of a project they left', async () => {
      const id = repo.project(creator, creator);
      expect((await errorOf(service.addMember(as(other), id, other))).message).toBe('Project not found');
      const creatorOnly = repo.project(creator);
      expect((await errorOf(service.listMembers(as(creator), creatorOnly))).message).toBe(
        'Project not found',
      );
    });

    it('a member may leave', async () => {
      const id = repo.project(creator, creator, member);
      await service.removeMember(as(member), id, member);
      expect(repo.members.get(id)?.has(member)).toBe(false);
    });

    it('only the creator removes others: a member removing another member gets 403', async () => {
      const id = repo.project(creator, creator, member, other);
      expect((await errorOf(service.removeMember(as(member), id, other))).code).toBe('forbidden');
      await service.removeMember(as(creator), id, other);
      expect(repo.changes).toEqual([`remove ${other}`]);
    });

    it('the creator can be neither removed nor leave (403)', async () => {
      const id = repo.project(creator, creator, member);
      expect((await errorOf(service.removeMember(as(member), id, creator))).code).toBe('forbidden');
      expect((await errorOf(service.removeMember(as(creator), id, creator))).code).toBe('forbidden');
      expect(repo.changes).toEqual([]);
    });

    it('without a creator any member removes others, but the last member cannot leave (409)', async () => {
      const id = repo.project(null, member, other);
      await service.removeMember(as(member), id, other);
      expect((await errorOf(service.removeMember(as(member), id, member))).code).toBe('conflict');
      expect(repo.members.get(id)?.has(member)).toBe(true);
    });

    it('removing someone who is not a member is 404 Member', async () => {
      const id = repo.project(creator, creator);
      expect((await errorOf(service.removeMember(as(creator), id, other))).message).toBe('Member not found');
    });
  });

  describe('list', () => {
    it('uses 20 per page by default, passes the decoded cursor, and returns the next one encoded', async () => {
      const cursor = { lastActivityAt: '2026-01-02T03:04:05.678901Z', projectId: randomUUID() };
      const result = await service.list(as(creator), { cursor: PROJECT_CURSOR.encode(cursor) });
      expect(repo.lastList).toEqual({ limit: 20, after: cursor });
      expect(PROJECT_CURSOR.decode(result.nextCursor!)).toEqual({
        lastActivityAt: '2026-11-26T09:24:36.123456Z',
        projectId: expect.any(String),
      });
    });

    it('a cursor this API did not make is 400 naming cursor, before any query', async () => {
      const error = await errorOf(service.list(as(creator), { cursor: 'bogus' }));
      expect(error.details).toEqual([{ field: 'cursor', message: 'is not a cursor this API returned' }]);
      expect(repo.lastList).toBeUndefined();
    });
  });
});
