import { randomUUID } from 'node:crypto';
import { AppError } from '../common/app-error.js';
import {
  caller,
  FakeDatabase,
  FakeMessagesRepository,
  FakeStore,
  rejectionOf,
} from '../../test/support/service-fakes.js';
import type { MessageRecord, MessageWindow } from './messages.repository.js';
import { anchors, MessagesService, toWindow } from './messages.service.js';

const M1 = 'aaaaaaaa-0000-4000-8000-000000000001';

const message = (id: string): MessageRecord => {
  const at = '2026-11-26T00:00:00.000Z';
  return {
    messageId: id,
    sessionId: randomUUID(),
    turnId: null,
    parentId: null,
    role: 'user',
    content: id,
    metadata: null,
    createdAt: at,
    updatedAt: at,
  };
};

/** A caller with a session of three messages, and the service over the shared fakes. */
function setup() {
  const store = new FakeStore();
  const db = new FakeDatabase(store);
  const messages = new FakeMessagesRepository(store);
  const service = new MessagesService(db.service, messages.repository);
  const me = caller();
  const session = store.session(me.userId, null);
  const ids = ['one', 'two', 'three'].map(
    (content) => store.message({ sessionId: session.sessionId, role: 'user', content }).messageId,
  );
  return { store, messages, service, me, session, ids };
}

describe('MessagesService', () => {
  it('reads the page of a session of the caller, total from the session row', async () => {
    const { service, me, session, ids } = setup();
    const page = await service.list(me, session.sessionId, { latest: true, limit: 2 });
    expect(page.messages.map((m) => m.messageId)).toEqual(ids.slice(1));
    expect(page).toMatchObject({ total: 3, hasMore: true, prevBefore: ids[1], nextAfter: null });
  });

  it("someone else's session (had RLS let it through) and a missing one are both 404, and no page is read", async () => {
    const { store, messages, service, session } = setup();
    store.rlsLeaks = true;
    for (const [who, sessionId] of [
      [caller(), session.sessionId],
      [caller(), randomUUID()],
    ] as const) {
      const error = await rejectionOf(service.list(who, sessionId, {}));
      expect([error.code, error.message]).toEqual(['not_found', 'Session not found']);
    }
    expect(messages.windows).toEqual([]);
  });

  it.each([
    ['before', { before: M1 }],
    ['after', { after: M1 }],
  ])('an anchor outside the session (SQLSTATE P0002) is 400 naming %s', async (field, query) => {
    const { messages, service, me, session } = setup();
    messages.failPages = Object.assign(new Error('anchor'), { code: 'P0002' });
    const error = await rejectionOf(service.list(me, session.sessionId, query));
    expect(error).toBeInstanceOf(AppError);
    expect(error.code).toBe('validation_failed');
    expect((error as AppError).details).toEqual([{ field, message: expect.any(String) }]);
  });

  it('other database errors pass through untouched', async () => {
    const { messages, service, me, session } = setup();
    const boom = new Error('boom');
    messages.failPages = boom;
    await expect(service.list(me, session.sessionId, {})).rejects.toBe(boom);
  });
});

describe('toWindow', () => {
  it('defaults to the 50 oldest messages', () => {
    expect(toWindow({})).toEqual({
      branch: 'current',
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
    branch: 'current',
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
