import { randomUUID } from 'node:crypto';
import type { AuthContext } from '../auth/auth-context.js';
import type { AppError } from '../common/app-error.js';
import { PROJECT_CURSOR } from '../common/keyset-cursor.js';
import {
  FakeDatabase,
  FakeProjectsRepository,
  FakeStore,
  rejectionOf,
} from '../../test/support/service-fakes.js';
import { ProjectsService } from './projects.service.js';

const errorOf = (promise: Promise<unknown>) => rejectionOf(promise) as Promise<AppError>;

describe('ProjectsService rules', () => {
  let store: FakeStore;
  let repo: FakeProjectsRepository;
  let service: ProjectsService;
  /** The store as it was before the step under test, to show nothing changed. */
  let before: unknown;
  const creator = randomUUID();
  const member = randomUUID();
  const other = randomUUID();
  const as = (userId: string): AuthContext => ({ userId, via: 'header' });
  const seed = (createdBy: string | null, ...members: string[]) => {
    const id = store.project(createdBy, ...members);
    before = store.snapshot();
    return id;
  };

  beforeEach(() => {
    store = new FakeStore();
    store.users = new Set([creator, member, other]);
    repo = new FakeProjectsRepository(store);
    service = new ProjectsService(new FakeDatabase(store).service, repo.repository);
  });

  describe('delete', () => {
    it('the creator may delete', async () => {
      const id = seed(creator, creator, member);
      await service.remove(as(creator), id);
      expect(store.projects.has(id)).toBe(false);
    });

    it('another member gets 403 and nothing is deleted', async () => {
      const id = seed(creator, creator, member);
      expect((await errorOf(service.remove(as(member), id))).code).toBe('forbidden');
      expect(store.snapshot()).toEqual(before);
    });

    it('any member may delete a project without a creator', async () => {
      const id = seed(null, creator, member);
      await service.remove(as(member), id);
      expect(store.projects.has(id)).toBe(false);
    });

    it('a non-member gets 404, as for a missing id', async () => {
      const id = seed(creator, creator);
      const error = await errorOf(service.remove(as(other), id));
      expect([error.code, error.message]).toEqual(['not_found', 'Project not found']);
      expect((await errorOf(service.remove(as(other), randomUUID()))).message).toBe('Project not found');
    });
  });

  describe('update', () => {
    it('an empty change touches nothing and returns the project', async () => {
      const id = seed(creator, creator, member);
      const project = await service.update(as(member), id, {});
      expect(project.projectId).toBe(id);
      expect(store.snapshot()).toEqual(before);
    });

    it('any member may rename; a non-member gets 404', async () => {
      const id = seed(creator, creator, member);
      expect((await service.update(as(member), id, { title: 'New' })).title).toBe('New');
      expect((await errorOf(service.update(as(other), id, { title: 'x' }))).code).toBe('not_found');
    });
  });

  describe('members', () => {
    it('adding an existing member is not an error and changes nothing', async () => {
      const id = seed(creator, creator, member);
      const result = await service.addMember(as(creator), id, member);
      expect(result.created).toBe(false);
      expect(store.snapshot()).toEqual(before);
    });

    it('adding an unknown user is 404 User; adding a known one creates the membership', async () => {
      const id = seed(creator, creator);
      const error = await errorOf(service.addMember(as(creator), id, randomUUID()));
      expect(error.message).toBe('User not found');
      const added = await service.addMember(as(creator), id, other);
      expect(added).toMatchObject({ created: true, member: { userId: other, isCreator: false } });
    });

    it('a non-member cannot add anyone (404 Project), even the creator of a project they left', async () => {
      const id = seed(creator, creator);
      expect((await errorOf(service.addMember(as(other), id, other))).message).toBe('Project not found');
      const creatorOnly = seed(creator);
      expect((await errorOf(service.listMembers(as(creator), creatorOnly))).message).toBe(
        'Project not found',
      );
    });

    it('a member may leave', async () => {
      const id = seed(creator, creator, member);
      await service.removeMember(as(member), id, member);
      expect(store.members.get(id)?.has(member)).toBe(false);
    });

    it('only the creator removes others: a member removing another member gets 403', async () => {
      const id = seed(creator, creator, member, other);
      expect((await errorOf(service.removeMember(as(member), id, other))).code).toBe('forbidden');
      expect(store.snapshot()).toEqual(before);
      await service.removeMember(as(creator), id, other);
      expect([...store.members.get(id)!.keys()]).toEqual([creator, member]);
    });

    it('the creator can be neither removed nor leave (403)', async () => {
      const id = seed(creator, creator, member);
      expect((await errorOf(service.removeMember(as(member), id, creator))).code).toBe('forbidden');
      expect((await errorOf(service.removeMember(as(creator), id, creator))).code).toBe('forbidden');
      expect(store.snapshot()).toEqual(before);
    });

    it('without a creator any member removes others, but the last member cannot leave (409)', async () => {
      const id = seed(null, member, other);
      await service.removeMember(as(member), id, other);
      expect((await errorOf(service.removeMember(as(member), id, member))).code).toBe('conflict');
      expect(store.members.get(id)?.has(member)).toBe(true);
    });

    it('removing someone who is not a member is 404 Member', async () => {
      const id = seed(creator, creator);
      expect((await errorOf(service.removeMember(as(creator), id, other))).message).toBe('Member not found');
    });
  });

  describe('list', () => {
    it('pages 20 by default, latest activity first, and the next cursor continues where the page ended', async () => {
      const ids = Array.from({ length: 22 }, () => store.project(creator, creator)).reverse();
      const first = await service.list(as(creator), {});
      expect(first.projects.map((p) => p.projectId)).toEqual(ids.slice(0, 20));
      expect(PROJECT_CURSOR.decode(first.nextCursor!).projectId).toBe(ids[19]);
      const second = await service.list(as(creator), { cursor: first.nextCursor! });
      expect(second.projects.map((p) => p.projectId)).toEqual(ids.slice(20));
      expect(second.nextCursor).toBeNull();
    });

    it('a cursor this API did not make is 400 naming cursor, before any query', async () => {
      const error = await errorOf(service.list(as(creator), { cursor: 'bogus' }));
      expect(error.details).toEqual([{ field: 'cursor', message: 'is not a cursor this API returned' }]);
      expect(repo.lastList).toBeUndefined();
    });
  });
});
