import { randomUUID } from 'node:crypto';
import { createProject, createUser, type TestUser } from './support/factories.js';
import { createTestApp, DATABASE_KIND, type TestApp } from './support/test-app.js';

interface TurnRow {
  project_id: string;
  user_text: string;
  assistant_text: string | null;
  user_id: string | null;
  session_id: string | null;
}

/**
 * The pre-sessions POST /chat (built-in provider): plain-text replies with X-Project-ID and X-Turn-ID, turns
 * written under the dossier, anonymous access limited to dossiers without members, a caller's turns mirrored
 * into their session history. Provider failures on this route: chat-providers.e2e-spec.ts.
 */
describe(`legacy POST /chat (${DATABASE_KIND})`, () => {
  let t: TestApp;
  let ada: TestUser;

  beforeAll(async () => {
    t = await createTestApp();
    ada = await createUser(t.app, { display_name: 'Ada' });
  });
  afterAll(() => t?.close());

  const legacy = (payload: Record<string, unknown>, headers: Record<string, string> = {}) =>
    t.app.inject({ method: 'POST', url: '/chat', headers, payload });

  const turn = async (turnId: string) =>
    (
      await t.sql.query<TurnRow>(
        `SELECT project_id::text, user_text, assistant_text, user_id::text, session_id::text
           FROM turns WHERE turn_id = $1`,
        [turnId],
      )
    )[0];

  describe('anonymous', () => {
    it('creates a dossier, writes the turn and streams the reply as plain text', async () => {
      const response = await legacy({ text: 'Once upon a time' });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(response.headers['x-session-id']).toBeUndefined();
      const projectId = response.headers['x-project-id'] as string;
      const turnId = response.headers['x-turn-id'] as string;
      expect(response.body).toContain("Parley's built-in offline model");
      expect(await turn(turnId)).toEqual({
        project_id: projectId,
        user_text: 'Once upon a time',
        assistant_text: response.body,
        user_id: null,
        session_id: null,
      });
      const [dossier] = await t.sql.query<{ created_by: string | null; members: number }>(
        `SELECT created_by::text, (SELECT count(*)::int FROM user_projects WHERE project_id = $1) AS members
           FROM dossier WHERE project_id = $1`,
        [projectId],
      );
      expect(dossier).toEqual({ created_by: null, members: 0 });
    });

    it('continues a dossier: the model sees its earlier turns', async () => {
      const first = await legacy({ text: 'Chapter one' });
      const projectId = first.headers['x-project-id'] as string;
      const second = await legacy({ text: 'Chapter two', project_id: projectId });
      expect(second.statusCode).toBe(200);
      expect(second.headers['x-project-id']).toBe(projectId);
      expect(second.headers['x-turn-id']).not.toBe(first.headers['x-turn-id']);
      expect(second.body).toContain('I can see 2 earlier messages');
      const turns = await t.sql.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM turns WHERE project_id = $1',
        [projectId],
      );
      expect(turns[0].n).toBe(2);
    });

    it('cannot reach a dossier that has members (404, nothing written)', async () => {
      const project = await createProject(t.app, ada);
      const before = await t.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM turns');
      const response = await legacy({ text: 'Let me in', project_id: project.project_id });
      expect(response.statusCode).toBe(404);
      expect(response.json()).toMatchObject({ error: 'not_found' });
      const unknown = await legacy({ text: 'Let me in', project_id: randomUUID() });
      expect(unknown.statusCode).toBe(404);
      const after = await t.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM turns');
      expect(after[0].n).toBe(before[0].n);
    });
  });

  describe('with a user', () => {
    it('creates a dossier the user belongs to and records the turn in their session history', async () => {
      const response = await legacy({ text: 'A story about bees' }, ada.headers);
      expect(response.statusCode).toBe(200);
      const projectId = response.headers['x-project-id'] as string;
      const turnId = response.headers['x-turn-id'] as string;
      const sessionId = response.headers['x-session-id'] as string;
      expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);
      expect(await turn(turnId)).toEqual({
        project_id: projectId,
        user_text: 'A story about bees',
        assistant_text: response.body,
        user_id: ada.user_id,
        session_id: sessionId,
      });
      const messages = await t.sql.query<{
        role: string;
        content: string;
        turn_id: string;
        provider: string | null;
      }>(
        `SELECT role, content, turn_id::text, metadata->>'provider' AS provider FROM chat_messages
          WHERE session_id = $1 ORDER BY created_at, seq`,
        [sessionId],
      );
      expect(messages).toEqual([
        { role: 'user', content: 'A story about bees', turn_id: turnId, provider: null },
        { role: 'assistant', content: response.body, turn_id: turnId, provider: 'builtin' },
      ]);
      // The user sees it through the sessions API like any other session.
      const page = await t.app.inject({
        method: 'GET',
        url: `/api/v1/sessions/${sessionId}/messages`,
        headers: ada.headers,
      });
      expect(page.statusCode).toBe(200);
      expect(page.json().data.map((m: { turn_id: string }) => m.turn_id)).toEqual([turnId, turnId]);
      const member = await t.sql.query('SELECT 1 FROM user_projects WHERE project_id = $1 AND user_id = $2', [
        projectId,
        ada.user_id,
      ]);
      expect(member).toHaveLength(1);
    });

    it('continuing the dossier continues the same session', async () => {
      const first = await legacy({ text: 'Part one' }, ada.headers);
      const projectId = first.headers['x-project-id'] as string;
      const second = await legacy({ text: 'Part two', project_id: projectId }, ada.headers);
      expect(second.statusCode).toBe(200);
      expect(second.headers['x-session-id']).toBe(first.headers['x-session-id']);
      expect(second.body).toContain('I can see 2 earlier messages');
      const [session] = await t.sql.query<{ message_count: number }>(
        'SELECT message_count FROM sessions WHERE session_id = $1',
        [first.headers['x-session-id']],
      );
      expect(session.message_count).toBe(4);
    });

    it('a dossier the user is not a member of is 404, even one without members', async () => {
      const bob = await createUser(t.app, { display_name: 'Bob' });
      const bobs = await createProject(t.app, bob);
      const anonymous = await legacy({ text: 'unclaimed' });
      for (const projectId of [bobs.project_id, anonymous.headers['x-project-id'] as string]) {
        const response = await legacy({ text: 'mine now', project_id: projectId }, ada.headers);
        expect(response.statusCode).toBe(404);
      }
    });

    it('an unknown user is 401', async () => {
      const response = await legacy({ text: 'hi' }, { 'x-user-id': randomUUID() });
      expect(response.statusCode).toBe(401);
    });
  });

  it.each([
    ['empty text', { text: '  ' }],
    ['text over 32,000 characters', { text: 'x'.repeat(32001) }],
    ['a malformed project_id', { text: 'hi', project_id: 'dossier-1' }],
  ])('%s is 400', async (_name, payload) => {
    const response = await legacy(payload);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: 'validation_failed' });
  });

  it('LEGACY_CHAT_ENABLED=false removes the route (404 like any unknown path)', async () => {
    const off = await createTestApp({ LEGACY_CHAT_ENABLED: 'false' });
    try {
      const response = await off.app.inject({ method: 'POST', url: '/chat', payload: { text: 'hi' } });
      expect(response.statusCode).toBe(404);
      expect(response.json()).toMatchObject({ error: 'not_found' });
      const turns = await off.sql.query('SELECT 1 FROM turns');
      expect(turns).toHaveLength(0);
    } finally {
      await off.close();
    }
  });
});
