import { randomUUID } from 'node:crypto';
import type { AuthContext } from '../auth/auth-context.js';
import {
  caller,
  FakeDatabase,
  FakeStore,
  FakeUsersRepository,
  rejectionOf,
} from '../../test/support/service-fakes.js';
import { UsersService } from './users.service.js';

function setup() {
  const store = new FakeStore();
  const users = new FakeUsersRepository(store);
  const service = new UsersService(new FakeDatabase(store).service, users.repository);
  return { store, users, service };
}

const jwt = (userId: string = randomUUID()): AuthContext => ({ userId, via: 'jwt' });

describe('UsersService', () => {
  describe('create', () => {
    it('without a token, every request creates a new user with a new id', async () => {
      const { store, service } = setup();
      const a = await service.create(undefined, { display_name: 'Ada' });
      const b = await service.create(caller(), { display_name: 'Ada' });
      expect([a.created, b.created]).toEqual([true, true]);
      expect(a.user.userId).not.toBe(b.user.userId);
      expect(store.profiles.size).toBe(2);
      expect(a.user).toMatchObject({ displayName: 'Ada', email: null, avatarUrl: null });
    });

    it("an X-User-ID caller does not choose the new user's id", async () => {
      const { service } = setup();
      const header = caller();
      const { user } = await service.create(header, {});
      expect(user.userId).not.toBe(header.userId);
    });

    it("a JWT caller creates the token subject's profile once; a repeat returns it unchanged (200)", async () => {
      const { store, service } = setup();
      const auth = jwt();
      const first = await service.create(auth, { email: 'ada@example.com', display_name: 'Ada' });
      expect(first).toMatchObject({ created: true, user: { userId: auth.userId, displayName: 'Ada' } });
      const again = await service.create(auth, { display_name: 'Someone else' });
      expect(again).toEqual({ created: false, user: first.user });
      expect(store.profiles.get(auth.userId)?.displayName).toBe('Ada');
    });

    it('a JWT caller whose concurrent first request wins the insert gets that profile, not created', async () => {
      const { users, service } = setup();
      const auth = jwt();
      users.raceOnCreate = { displayName: 'Winner' };
      const result = await service.create(auth, { display_name: 'Loser' });
      expect(result).toMatchObject({ created: false, user: { userId: auth.userId, displayName: 'Winner' } });
    });
  });

  describe('me', () => {
    it("answers the caller's profile", async () => {
      const { service } = setup();
      const { user } = await service.create(undefined, { display_name: 'Ada' });
      expect(await service.me(caller(user.userId))).toEqual(user);
    });

    it('a caller without a profile is 404 User', async () => {
      const { service } = setup();
      const error = await rejectionOf(service.me(caller()));
      expect([error.code, error.message]).toEqual(['not_found', 'User not found']);
    });
  });

  describe('update', () => {
    it('changes the fields given, clears those given as null, keeps the others', async () => {
      const { service } = setup();
      const { user } = await service.create(undefined, {
        email: 'ada@example.com',
        display_name: 'Ada',
        avatar_url: 'https://example.com/a.png',
      });
      const updated = await service.update(caller(user.userId), { display_name: 'Ada L.', avatar_url: null });
      expect(updated).toMatchObject({
        email: 'ada@example.com',
        displayName: 'Ada L.',
        avatarUrl: null,
      });
    });
  });

  describe('remove', () => {
    it('deletes the user with the projects only they belong to; shared projects stay; again is 404', async () => {
      const { store, service } = setup();
      const { user } = await service.create(undefined, {});
      const friend = randomUUID();
      const own = store.project(user.userId, user.userId);
      const shared = store.project(user.userId, user.userId, friend);
      store.session(user.userId, own);
      await service.remove(caller(user.userId));
      expect(store.profiles.has(user.userId)).toBe(false);
      expect(store.projects.has(own)).toBe(false);
      expect(store.projects.has(shared)).toBe(true);
      expect([...store.members.get(shared)!.keys()]).toEqual([friend]);
      expect(store.sessions.size).toBe(0);
      const error = await rejectionOf(service.remove(caller(user.userId)));
      expect([error.code, error.message]).toEqual(['not_found', 'User not found']);
    });
  });
});
