import type { AuthContext } from '../auth/auth-context.js';
import { AppError } from '../common/app-error.js';
import type { DatabaseService, Tx } from '../database/database.service.js';
import type { ProjectsRepository } from '../projects/projects.repository.js';
import type { SessionRecord, SessionsRepository } from '../sessions/sessions.repository.js';
import { SessionsService } from '../sessions/sessions.service.js';
import type { MessageRecord, MessagesRepository, MessageWindow } from './messages.repository.js';
import { anchors, MessagesService, toWindow } from './messages.service.js';

const CALLER: AuthContext = { userId: '11111111-1111-4111-8111-111111111111', via: 'header' };
const SESSION_ID = '33333333-3333-4333-8333-333333333333';
const M1 = 'aaaaaaaa-0000-4000-8000-000000000001';

const message = (id: string): MessageRecord => {
  const at = '2026-11-26T00:00:00.000Z';
  return {
    messageId: id,
    sessionId: SESSION_ID,
    turnId: null,
    role: 'user',
    content: id,
    metadata: null,
    createdAt: at,
    updatedAt: at,
  };
};

function session(fields: Partial<SessionRecord> = {}): SessionRecord {
  const at = '2026-11-26T00:00:00.000Z';
  return {
    sessionId: SESSION_ID,
    userId: CALLER.userId,
    projectId: null,
    title: null,
    createdAt: at,
    updatedAt: at,
    lastMessageAt: at,
    isActive: true,
    messageCount: 42,
    lastMessagePreview: null,
    ...fields,
  };
}

function setup(options: { stored?: SessionRecord | null; pageError?: unknown } = {}) {
  const windows: MessageWindow[] = [];
  const db = { asUser: (_auth: AuthContext, work: (tx: Tx) => Promise<unknown>) => work({} as Tx) };
  const sessions = { findById: async () => (options.stored === undefined ? session() : options.stored) };
  const messages = {
    async page(_tx: Tx, _sessionId: string, window: MessageWindow) {
      windows.push(window);
      if (options.pageError) throw options.pageError;
      return { messages: [message('m2'), message('m3')], hasMore: true };
    },
  };
  const service = new MessagesService(
    db as unknown as DatabaseService,
    new SessionsService(
      db as unknown as DatabaseService,
      sessions as unknown as SessionsRepository,
      {} as ProjectsRepository,
    ),
    messages as unknown as MessagesRepository,
  );
  return { service, windows };
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

describe('MessagesService', () => {
  it('reads the page of a session of the caller, total from the session row', async () => {
    const { service, windows } = setup();
    const page = await service.list(CALLER, SESSION_ID, { latest: true, limit: 2 });
    expect(windows).toEqual([{ limit: 2, offset: 0, before: undefined, after: undefined, latest: true }]);
    expect(page).toMatchObject({ total: 42, hasMore: true, prevBefore: 'm2', nextAfter: null });
  });

  it("someone else's session (had RLS let it through) and a missing one are both 404, and no page is read", async () => {
    for (const stored of [session({ userId: '22222222-2222-4222-8222-222222222222' }), null]) {
      const { service, windows } = setup({ stored });
      const error = await failure(service.list(CALLER, SESSION_ID, {}));
      expect(error.code).toBe('not_found');
      expect(windows).toEqual([]);
    }
  });

  it.each([
    ['before', { before: M1 }],
    ['after', { after: M1 }],
  ])('an anchor outside the session (SQLSTATE P0002) is 400 naming %s', async (field, query) => {
    const { service } = setup({ pageError: Object.assign(new Error('anchor'), { code: 'P0002' }) });
    const error = await failure(service.list(CALLER, SESSION_ID, query));
    expect(error.code).toBe('validation_failed');
    expect(error.details).toEqual([{ field, message: expect.any(String) }]);
  });

  it('other database errors pass through untouched', async () => {
    const boom = new Error('boom');
    const { service } = setup({ pageError: boom });
    await expect(service.list(CALLER, SESSION_ID, {})).rejects.toBe(boom);
  });
});

describe('toWindow', () => {
  it('defaults to the 50 oldest messages', () => {
    expect(toWindow({})).toEqual({
      limit: 50,
      offset: 0,
      before: undefined,
      after: undefined,
      latest: false,
    });
  });

  it.each([
    [{ offset: 1, before: M1 }, ['offset', 'before']],
    [{ before: M1, after: M1 }, ['before', 'after']],
    [{ after: M1, latest: true }, ['after', 'latest']],
    [{ offset: 5, latest: true }, ['offset', 'latest']],
    [{ offset: 5, before: M1, after: M1, latest: true }, ['offset', 'before', 'after', 'latest']],
  ])('%j names more than one way of paging: 400 naming each', (query, fields) => {
    let error: unknown;
    try {
      toWindow(query);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).details?.map((d) => d.field)).toEqual(fields);
  });

  it('offset 0 and latest false are no choice at all, so they combine with anything', () => {
    expect(toWindow({ offset: 0, latest: false, after: M1 })).toMatchObject({
      after: M1,
      offset: 0,
      latest: false,
    });
  });
});

describe('anchors', () => {
  const page = [message('first'), message('last')];
  const window = (fields: Partial<MessageWindow>): MessageWindow => ({
    limit: 2,
    offset: 0,
    latest: false,
    ...fields,
  });

  it.each([
    ['first offset page with more', window({}), true, { prevBefore: null, nextAfter: 'last' }],
    ['later offset page, the last', window({ offset: 4 }), false, { prevBefore: 'first', nextAfter: null }],
    ['latest page with older ones', window({ latest: true }), true, { prevBefore: 'first', nextAfter: null }],
    [
      'latest page that is all there is',
      window({ latest: true }),
      false,
      { prevBefore: null, nextAfter: null },
    ],
    ['before page, oldest reached', window({ before: M1 }), false, { prevBefore: null, nextAfter: 'last' }],
    ['before page with older ones', window({ before: M1 }), true, { prevBefore: 'first', nextAfter: 'last' }],
    ['after page, newest reached', window({ after: M1 }), false, { prevBefore: 'first', nextAfter: null }],
    ['after page with newer ones', window({ after: M1 }), true, { prevBefore: 'first', nextAfter: 'last' }],
  ])('%s', (_label, w, hasMore, expected) => {
    expect(anchors(w, page, hasMore)).toEqual(expected);
  });

  it('an empty page has no anchors', () => {
    expect(anchors(window({ after: M1 }), [], false)).toEqual({ prevBefore: null, nextAfter: null });
    expect(anchors(window({ offset: 9 }), [], false)).toEqual({ prevBefore: null, nextAfter: null });
  });
});
