import type { AuthContext } from '../auth/auth-context.js';
import { AppError } from '../common/app-error.js';
import { SESSION_CURSOR } from '../common/keyset-cursor.js';
import type { DatabaseService, Tx } from '../database/database.service.js';
import type { ProjectRecord, ProjectsRepository } from '../projects/projects.repository.js';
import type { SessionsRepository, SessionListFilter, SessionRecord } from './sessions.repository.js';
import { SessionsService } from './sessions.service.js';

const CALLER: AuthContext = { userId: '11111111-1111-4111-8111-111111111111', via: 'header' };
const OTHER = '22222222-2222-4222-8222-222222222222';
const SESSION_ID = '33333333-3333-4333-8333-333333333333';
const PROJECT_ID = '44444444-4444-4444-8444-444444444444';

function session(fields: Partial<SessionRecord> = {}): SessionRecord {
  const at = '2026-11-26T00:00:00.000Z';
  return {
    sessionId: SESSION_ID,
    userId: CALLER.userId,
    projectId: PROJECT_ID,
    title: null,
    createdAt: at,
    updatedAt: at,
    lastMessageAt: at,
    isActive: true,
    messageCount: 0,
    lastMessagePreview: null,
    ...fields,
  };
}

/** Repositories replaced by in-memory fakes that record what the service asked for. */
function setup(
  state: { members?: string[]; stored?: SessionRecord | null; updated?: SessionRecord | null } = {},
) {
  const calls: { method: string; args: unknown[] }[] = [];
  const record = (method: string, ...args: unknown[]) => calls.push({ method, args });
  const tx = {} as Tx;
  const db = { asUser: (_auth: AuthContext, work: (tx: Tx) => Promise<unknown>) => work(tx) };
  const projects = {
    async createForUser(_tx: Tx, userId: string, title: string | null): Promise<ProjectRecord> {
      record('createForUser', userId, title);
      const at = new Date();
      return { projectId: 'new-project', title, createdBy: userId, createdAt: at, updatedAt: at };
    },
    async isMember(_tx: Tx, projectId: string, userId: string) {
      record('isMember', projectId, userId);
      return (state.members ?? []).includes(projectId);
    },
  };
  const sessions = {
    async create(_tx: Tx, fields: { userId: string; projectId: string; title: string | null }) {
      record('create', fields);
      return session(fields);
    },
    async findById(_tx: Tx, sessionId: string) {
      record('findById', sessionId);
      return state.stored === undefined ? session() : state.stored;
    },
    async list(_tx: Tx, filter: SessionListFilter) {
      record('list', filter);
      return {
        sessions: [session()],
        next: { lastMessageAt: '2026-11-26T00:00:00.000001Z', sessionId: SESSION_ID },
      };
    },
    async update(_tx: Tx, owned: unknown, changes: unknown) {
      record('update', owned, changes);
      return state.updated === undefined ? session() : state.updated;
    },
    async delete(_tx: Tx, owned: unknown) {
      record('delete', owned);
      return state.stored !== null;
    },
  };
  const service = new SessionsService(
    db as unknown as DatabaseService,
    sessions as unknown as SessionsRepository,
    projects as unknown as ProjectsRepository,
  );
  return { service, calls, methods: () => calls.map((c) => c.method) };
}

async function failure(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected an AppError');
}

describe('SessionsService', () => {
  describe('create', () => {
    it("without a project, creates one of the caller's titled like the session and puts the session in it", async () => {
      const { service, calls } = setup();
      const created = await service.create(CALLER, { title: 'Draft' });
      expect(calls).toEqual([
        { method: 'createForUser', args: [CALLER.userId, 'Draft'] },
        { method: 'create', args: [{ userId: CALLER.userId, projectId: 'new-project', title: 'Draft' }] },
      ]);
      expect(created.projectId).toBe('new-project');
    });

    it('in a project the caller belongs to, creates no project', async () => {
      const { service, methods } = setup({ members: [PROJECT_ID] });
      const created = await service.create(CALLER, { project_id: PROJECT_ID });
      expect(methods()).toEqual(['isMember', 'create']);
      expect(created).toMatchObject({ projectId: PROJECT_ID, title: null });
    });

    it('in a project the caller does not belong to, is 404 and creates nothing', async () => {
      const { service, methods } = setup({ members: [] });
      const error = await failure(service.create(CALLER, { project_id: PROJECT_ID }));
      expect(error.code).toBe('not_found');
      expect(methods()).toEqual(['isMember']);
    });
  });

  describe('list', () => {
    it("asks for the caller's sessions with the default limit and returns an opaque next cursor", async () => {
      const { service, calls } = setup();
      const result = await service.list(CALLER, {});
      expect(calls[0].args[0]).toEqual({
        userId: CALLER.userId,
        limit: 10,
        after: undefined,
        projectId: undefined,
        isActive: undefined,
      });
      expect(SESSION_CURSOR.decode(result.nextCursor!)).toEqual({
        lastMessageAt: '2026-11-26T00:00:00.000001Z',
        sessionId: SESSION_ID,
      });
    });

    it('continues from the position in the cursor, with the filters', async () => {
      const { service, calls } = setup();
      const position = { lastMessageAt: '2026-01-02T03:04:05.678901Z', sessionId: SESSION_ID };
      await service.list(CALLER, {
        limit: 3,
        cursor: SESSION_CURSOR.encode(position),
        project_id: PROJECT_ID,
        is_active: false,
      });
      expect(calls[0].args[0]).toEqual({
        userId: CALLER.userId,
        limit: 3,
        after: position,
        projectId: PROJECT_ID,
        isActive: false,
      });
    });

    it('a malformed cursor is 400 naming cursor, before any database work', async () => {
      const { service, calls } = setup();
      const error = await failure(service.list(CALLER, { cursor: 'garbage' }));
      expect(error.code).toBe('validation_failed');
      expect(error.details?.[0].field).toBe('cursor');
      expect(calls).toEqual([]);
    });
  });

  describe('get', () => {
    it("a session that is someone else's (had RLS let it through) is 404, like a missing one", async () => {
      const foreign = await failure(
        setup({ stored: session({ userId: OTHER }) }).service.get(CALLER, SESSION_ID),
      );
      const missing = await failure(setup({ stored: null }).service.get(CALLER, SESSION_ID));
      expect([foreign.code, foreign.message]).toEqual([missing.code, missing.message]);
      expect(foreign.code).toBe('not_found');
    });
  });

  describe('update', () => {
    it("writes only the given fields, filtered by the caller's id", async () => {
      const { service, calls } = setup();
      await service.update(CALLER, SESSION_ID, { is_active: false });
      expect(calls).toEqual([
        { method: 'update', args: [{ userId: CALLER.userId, sessionId: SESSION_ID }, { isActive: false }] },
      ]);
    });

    it('a null title clears it; rename sets it', async () => {
      const { service, calls } = setup();
      await service.update(CALLER, SESSION_ID, { title: null });
      await service.rename(CALLER, SESSION_ID, 'New');
      expect(calls.map((c) => c.args[1])).toEqual([{ title: null }, { title: 'New' }]);
    });

    it('with nothing to change, reads the session and writes nothing', async () => {
      const { service, methods } = setup();
      await service.update(CALLER, SESSION_ID, {});
      expect(methods()).toEqual(['findById']);
    });

    it('no row of the caller to change is 404', async () => {
      const error = await failure(
        setup({ updated: null }).service.update(CALLER, SESSION_ID, { title: 'x' }),
      );
      expect(error.code).toBe('not_found');
    });
  });

  describe('remove', () => {
    it("deletes with the caller's id as owner filter; nothing deleted is 404", async () => {
      const { service, calls } = setup();
      await service.remove(CALLER, SESSION_ID);
      expect(calls).toEqual([{ method: 'delete', args: [{ userId: CALLER.userId, sessionId: SESSION_ID }] }]);
      const error = await failure(setup({ stored: null }).service.remove(CALLER, SESSION_ID));
      expect(error.code).toBe('not_found');
    });
  });
});
