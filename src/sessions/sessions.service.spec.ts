import { randomUUID } from 'node:crypto';
import { SESSION_CURSOR } from '../common/keyset-cursor.js';
import {
  caller,
  FakeDatabase,
  FakeProjectsRepository,
  FakeSessionsRepository,
  FakeStore,
  rejectionOf,
} from '../../test/support/service-fakes.js';
import { SessionsService } from './sessions.service.js';

function setup() {
  const store = new FakeStore();
  const db = new FakeDatabase(store);
  const service = new SessionsService(
    db.service,
    new FakeSessionsRepository(store).repository,
    new FakeProjectsRepository(store).repository,
  );
  const me = caller();
  const other = caller();
  return { store, db, service, me, other };
}

describe('SessionsService', () => {
  describe('create', () => {
    it("without a project, creates one of the caller's titled like the session and puts the session in it", async () => {
      const { store, service, me } = setup();
      const created = await service.create(me, { title: 'Draft' });
      const project = store.projects.get(created.projectId!)!;
      expect(project).toMatchObject({ title: 'Draft', createdBy: me.userId });
      expect(store.isMember(project.projectId, me.userId)).toBe(true);
      expect(created).toMatchObject({ userId: me.userId, title: 'Draft', messageCount: 0 });
    });

    it('in a project the caller belongs to, creates no project', async () => {
      const { store, service, me, other } = setup();
      const projectId = store.project(other.userId, other.userId, me.userId);
      const created = await service.create(me, { project_id: projectId });
      expect(created).toMatchObject({ projectId, title: null, userId: me.userId });
      expect(store.projects.size).toBe(1);
    });

    it('in a project the caller does not belong to, is 404 Project and creates nothing', async () => {
      const { store, service, me, other } = setup();
      const projectId = store.project(other.userId, other.userId);
      const before = store.snapshot();
      const error = await rejectionOf(service.create(me, { project_id: projectId }));
      expect([error.code, error.message]).toEqual(['not_found', 'Project not found']);
      expect(store.snapshot()).toEqual(before);
    });
  });

  describe('open (every way into a session: POST /sessions and both chats)', () => {
    it("continues the caller's session, creating nothing", async () => {
      const { store, db, service, me } = setup();
      const projectId = store.project(me.userId, me.userId);
      const session = store.session(me.userId, projectId);
      const opened = await db.asUser(me, (tx) =>
        service.open(tx, me, {
          sessionId: session.sessionId,
          projectId: projectId.toUpperCase(),
          title: 'x',
        }),
      );
      expect(opened).toEqual({ session, created: false });
      expect(store.sessions.size).toBe(1);
    });

    it("another user's session is 404 Session even when row-level security lets it through", async () => {
      const { store, db, service, me, other } = setup();
      const theirs = store.session(other.userId, store.project(other.userId, other.userId));
      store.rlsLeaks = true;
      const error = await rejectionOf(
        db.asUser(me, (tx) => service.open(tx, me, { sessionId: theirs.sessionId, title: null })),
      );
      expect([error.code, error.message]).toEqual(['not_found', 'Session not found']);
    });

    it("a project_id that is not the session's project is 400 naming project_id", async () => {
      const { store, db, service, me } = setup();
      const session = store.session(me.userId, store.project(me.userId, me.userId));
      const error = await rejectionOf(
        db.asUser(me, (tx) =>
          service.open(tx, me, { sessionId: session.sessionId, projectId: randomUUID(), title: null }),
        ),
      );
      expect(error.code).toBe('validation_failed');
      expect((error as { details?: { field: string }[] }).details?.[0].field).toBe('project_id');
    });

    it('a new session is reported as created', async () => {
      const { db, service, me } = setup();
      const opened = await db.asUser(me, (tx) => service.open(tx, me, { title: 'T' }));
      expect(opened.created).toBe(true);
      expect(opened.session.title).toBe('T');
    });
  });

  describe('list', () => {
    it('pages 10 by default, newest activity first, and the next cursor continues where the page ended', async () => {
      const { store, service, me } = setup();
      const projectId = store.project(me.userId, me.userId);
      const sessions = Array.from({ length: 12 }, () => store.session(me.userId, projectId));
      const newestFirst = sessions.map((s) => s.sessionId).reverse();

      const first = await service.list(me, {});
      expect(first.sessions.map((s) => s.sessionId)).toEqual(newestFirst.slice(0, 10));
      expect(SESSION_CURSOR.decode(first.nextCursor!).sessionId).toBe(newestFirst[9]);

      const second = await service.list(me, { cursor: first.nextCursor! });
      expect(second.sessions.map((s) => s.sessionId)).toEqual(newestFirst.slice(10));
      expect(second.nextCursor).toBeNull();
    });

    it("lists only the caller's sessions, with the project and archive filters", async () => {
      const { store, service, me, other } = setup();
      const a = store.project(me.userId, me.userId);
      const b = store.project(me.userId, me.userId);
      const inA = store.session(me.userId, a);
      const archived = store.session(me.userId, a, { isActive: false });
      store.session(me.userId, b);
      store.session(other.userId, a);
      const active = await service.list(me, { project_id: a, is_active: true, limit: 5 });
      expect(active.sessions.map((s) => s.sessionId)).toEqual([inA.sessionId]);
      const inArchive = await service.list(me, { is_active: false });
      expect(inArchive.sessions.map((s) => s.sessionId)).toEqual([archived.sessionId]);
    });

    it('a malformed cursor is 400 naming cursor, before any database work', async () => {
      const { db, service, me } = setup();
      const error = await rejectionOf(service.list(me, { cursor: 'garbage' }));
      expect(error.code).toBe('validation_failed');
      expect((error as { details?: { field: string }[] }).details?.[0].field).toBe('cursor');
      expect(db.transactions).toBe(0);
    });
  });

  describe('get', () => {
    it("a session that is someone else's (had RLS let it through) is 404, like a missing one", async () => {
      const { store, service, me, other } = setup();
      const theirs = store.session(other.userId, null);
      store.rlsLeaks = true;
      const foreign = await rejectionOf(service.get(me, theirs.sessionId));
      const missing = await rejectionOf(service.get(me, randomUUID()));
      expect([foreign.code, foreign.message]).toEqual([missing.code, missing.message]);
      expect(foreign.code).toBe('not_found');
    });
  });

  describe('update', () => {
    it('changes only the given fields', async () => {
      const { store, service, me } = setup();
      const session = store.session(me.userId, null, { title: 'Keep' });
      const archived = await service.update(me, session.sessionId, { is_active: false });
      expect(archived).toMatchObject({ title: 'Keep', isActive: false });
    });

    it('a null title clears it; rename sets it', async () => {
      const { store, service, me } = setup();
      const session = store.session(me.userId, null, { title: 'Old' });
      expect((await service.update(me, session.sessionId, { title: null })).title).toBeNull();
      expect((await service.rename(me, session.sessionId, 'New')).title).toBe('New');
      expect(store.sessions.get(session.sessionId)?.title).toBe('New');
    });

    it('with nothing to change, answers the session as it is and writes nothing', async () => {
      const { store, service, me } = setup();
      const session = store.session(me.userId, null);
      const before = store.snapshot();
      expect(await service.update(me, session.sessionId, {})).toEqual(session);
      expect(store.snapshot()).toEqual(before);
    });

    it("another user's session is 404 and stays as it was, even when RLS lets it through", async () => {
      const { store, service, me, other } = setup();
      const theirs = store.session(other.userId, null, { title: 'Theirs' });
      store.rlsLeaks = true;
      const error = await rejectionOf(service.update(me, theirs.sessionId, { title: 'x' }));
      expect(error.code).toBe('not_found');
      expect(store.sessions.get(theirs.sessionId)?.title).toBe('Theirs');
    });
  });

  describe('remove', () => {
    it('deletes the session with its messages; a missing one is 404', async () => {
      const { store, service, me } = setup();
      const session = store.session(me.userId, null);
      store.message({ sessionId: session.sessionId, role: 'user', content: 'hi' });
      await service.remove(me, session.sessionId);
      expect(store.sessions.has(session.sessionId)).toBe(false);
      expect(store.messagesOf(session.sessionId)).toEqual([]);
      expect((await rejectionOf(service.remove(me, session.sessionId))).code).toBe('not_found');
    });

    it("another user's session is 404 and is not deleted, even when RLS lets it through", async () => {
      const { store, service, me, other } = setup();
      const theirs = store.session(other.userId, null);
      store.rlsLeaks = true;
      expect((await rejectionOf(service.remove(me, theirs.sessionId))).code).toBe('not_found');
      expect(store.sessions.has(theirs.sessionId)).toBe(true);
    });
  });
});
