import { randomUUID } from 'node:crypto';
import { prismaOf, type Tx } from '../src/database/database.service.js';
import { ProjectsRepository } from '../src/projects/projects.repository.js';
import { addMessages, createProject, createUser, type TestUser } from './support/factories.js';
import { createTestApp, DATABASE_KIND, type TestApp } from './support/test-app.js';

interface ProjectBody {
  project_id: string;
  title: string | null;
  created_by: string | null;
  is_creator: boolean;
  created_at: string;
  updated_at: string;
  last_activity_at: string;
}

interface MemberBody {
  user_id: string;
  display_name: string | null;
  avatar_url: string | null;
  is_creator: boolean;
  joined_at: string;
}

describe(`projects API (${DATABASE_KIND})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t?.close());

  const inject = (...args: Parameters<TestApp['app']['inject']>) => t.app.inject(...args);

  async function apiCreateProject(user: TestUser, title = 'A project'): Promise<ProjectBody> {
    const response = await inject({
      method: 'POST',
      url: '/api/v1/projects',
      headers: user.headers,
      payload: { title },
    });
    if (response.statusCode !== 201) throw new Error(`${response.statusCode} ${response.body}`);
    return response.json();
  }

  async function addMember(actor: TestUser, projectId: string, user: TestUser): Promise<void> {
    const response = await inject({
      method: 'POST',
      url: `/api/v1/projects/${projectId}/members`,
      headers: actor.headers,
      payload: { user_id: user.user_id },
    });
    if (response.statusCode !== 201) throw new Error(`${response.statusCode} ${response.body}`);
  }

  /** A legacy dossier (no creator) whose members are the given users, arranged with maintenance SQL. */
  async function legacyProject(...members: TestUser[]): Promise<string> {
    const [{ project_id }] = await t.sql.query<{ project_id: string }>(
      `INSERT INTO dossier (title) VALUES ('legacy') RETURNING project_id::text`,
    );
    for (const member of members)
      await t.sql.query(`INSERT INTO user_projects (user_id, project_id) VALUES ($1, $2)`, [
        member.user_id,
        project_id,
      ]);
    return project_id;
  }

  async function sessionIn(user: TestUser, projectId: string): Promise<string> {
    const [{ session_id }] = await t.sql.query<{ session_id: string }>(
      `INSERT INTO sessions (user_id, project_id, title) VALUES ($1, $2, 's') RETURNING session_id::text`,
      [user.user_id, projectId],
    );
    return session_id;
  }

  async function listAll(user: TestUser, limit: number): Promise<{ ids: string[]; pages: number }> {
    const ids: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: Record<string, string> = { limit: String(limit), ...(cursor ? { cursor } : {}) };
      const response = await inject({ method: 'GET', url: '/api/v1/projects', headers: user.headers, query });
      expect(response.statusCode).toBe(200);
      const body = response.json() as { data: ProjectBody[]; next_cursor: string | null };
      ids.push(...body.data.map((p) => p.project_id));
      cursor = body.next_cursor;
      pages += 1;
      if (pages > 50) throw new Error('pagination does not end');
    } while (cursor);
    return { ids, pages };
  }

  const idRoutes = (projectId: string, userId: string) => [
    { method: 'GET' as const, url: `/api/v1/projects/${projectId}` },
    { method: 'PATCH' as const, url: `/api/v1/projects/${projectId}`, payload: { title: 'x' } },
    { method: 'DELETE' as const, url: `/api/v1/projects/${projectId}` },
    { method: 'GET' as const, url: `/api/v1/projects/${projectId}/members` },
    { method: 'POST' as const, url: `/api/v1/projects/${projectId}/members`, payload: { user_id: userId } },
    { method: 'DELETE' as const, url: `/api/v1/projects/${projectId}/members/${userId}` },
  ];

  describe('POST /api/v1/projects', () => {
    it('creates the project with the caller as creator and first member, in snake_case', async () => {
      const user = await createUser(t.app, { display_name: 'Creator' });
      const response = await inject({
        method: 'POST',
        url: '/api/v1/projects',
        headers: user.headers,
        payload: { title: '  Novel  ' },
      });
      expect(response.statusCode).toBe(201);
      const body = response.json() as ProjectBody;
      expect(body).toEqual({
        project_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        title: 'Novel',
        created_by: user.user_id,
        is_creator: true,
        created_at: expect.any(String),
        updated_at: expect.any(String),
        last_activity_at: expect.any(String),
      });
      const rows = await t.sql.query<{ created_by: string; members: string[] }>(
        `SELECT d.created_by::text, array(SELECT user_id::text FROM user_projects WHERE project_id = d.project_id) AS members
           FROM dossier d WHERE d.project_id = $1`,
        [body.project_id],
      );
      expect(rows).toEqual([{ created_by: user.user_id, members: [user.user_id] }]);
    });

    it.each([
      [{}, 'title'],
      [{ title: '' }, 'title'],
      [{ title: '   ' }, 'title'],
      [{ title: 'x'.repeat(201) }, 'title'],
      [{ title: 42 }, 'title'],
      [{ title: null }, 'title'],
      [{ title: 'ok', owner: 'me' }, 'owner'],
    ])('body %j is 400 naming %s, and creates nothing', async (payload, field) => {
      const user = await createUser(t.app);
      const response = await inject({
        method: 'POST',
        url: '/api/v1/projects',
        headers: user.headers,
        payload,
      });
      expect(response.statusCode).toBe(400);
      expect(response.json().error).toBe('validation_failed');
      expect(response.json().details.map((d: { field: string }) => d.field)).toContain(field);
      const [{ count }] = await t.sql.query<{ count: number }>(
        `SELECT count(*)::int AS count FROM dossier WHERE created_by = $1`,
        [user.user_id],
      );
      expect(count).toBe(0);
    });

    it('needs a caller (401) and refuses a body over the limit (413)', async () => {
      const anonymous = await inject({ method: 'POST', url: '/api/v1/projects', payload: { title: 'x' } });
      expect(anonymous.statusCode).toBe(401);
      const unknown = await inject({
        method: 'POST',
        url: '/api/v1/projects',
        headers: { 'x-user-id': randomUUID() },
        payload: { title: 'x' },
      });
      expect(unknown.statusCode).toBe(401);
      const user = await createUser(t.app);
      const big = await inject({
        method: 'POST',
        url: '/api/v1/projects',
        headers: user.headers,
        payload: { title: 'x'.repeat(t.config.BODY_LIMIT_BYTES) },
      });
      expect(big.statusCode).toBe(413);
    });
  });

  describe('GET /api/v1/projects', () => {
    it('is empty for a user without projects, with no next_cursor', async () => {
      const user = await createUser(t.app);
      const response = await inject({ method: 'GET', url: '/api/v1/projects', headers: user.headers });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ data: [], next_cursor: null });
    });

    it('lists only the caller’s projects, newest first; exactly one full page has no next_cursor', async () => {
      const user = await createUser(t.app);
      const other = await createUser(t.app);
      await createProject(t.app, other, 'not mine');
      const first = await apiCreateProject(user, 'first');
      const second = await apiCreateProject(user, 'second');
      const third = await apiCreateProject(user, 'third');
      const response = await inject({
        method: 'GET',
        url: '/api/v1/projects',
        headers: user.headers,
        query: { limit: '3' },
      });
      expect(response.statusCode).toBe(200);
      const body = response.json();
      expect(body.data.map((p: ProjectBody) => p.project_id)).toEqual([
        third.project_id,
        second.project_id,
        first.project_id,
      ]);
      expect(body.next_cursor).toBeNull();
      expect(body.data[0]).toMatchObject({ title: 'third', is_creator: true, created_by: user.user_id });
    });

    it('defaults to 20 per page and walks every page once, with ties in last_activity_at broken by id', async () => {
      const user = await createUser(t.app);
      const ids: string[] = [];
      for (let i = 0; i < 25; i += 1) ids.push((await createProject(t.app, user, `p${i}`)).project_id);
      // Five projects share one instant, the others keep distinct ones.
      await t.sql.query(
        `UPDATE user_projects SET last_activity_at = '2030-01-01T00:00:00.123456Z' WHERE user_id = $1 AND project_id = ANY($2::uuid[])`,
        [user.user_id, ids.slice(5, 10)],
      );
      const expected = await t.sql.query<{ project_id: string }>(
        `SELECT project_id::text FROM user_projects WHERE user_id = $1
          ORDER BY last_activity_at DESC, project_id DESC`,
        [user.user_id],
      );
      const firstPage = await inject({ method: 'GET', url: '/api/v1/projects', headers: user.headers });
      expect(firstPage.json().data).toHaveLength(20);
      expect(firstPage.json().next_cursor).toEqual(expect.any(String));
      for (const limit of [1, 2, 5, 7, 100]) {
        const { ids: walked, pages } = await listAll(user, limit);
        expect(walked).toEqual(expected.map((r) => r.project_id));
        expect(pages).toBe(Math.max(1, Math.ceil(25 / limit)));
      }
    });

    it('keeps microsecond ties apart: projects 1 µs apart are neither skipped nor repeated', async () => {
      const user = await createUser(t.app);
      const a = await createProject(t.app, user, 'a');
      const b = await createProject(t.app, user, 'b');
      await t.sql.query(
        `UPDATE user_projects SET last_activity_at = CASE WHEN project_id = $2::uuid
           THEN '2031-01-01T00:00:00.000001Z'::timestamptz ELSE '2031-01-01T00:00:00.000002Z'::timestamptz END
          WHERE user_id = $1`,
        [user.user_id, a.project_id],
      );
      const { ids } = await listAll(user, 1);
      expect(ids).toEqual([b.project_id, a.project_id]);
    });

    it('orders by the caller’s own activity: a rename, their own session and messages move a project up; another member’s session does not', async () => {
      const user = await createUser(t.app);
      const other = await createUser(t.app);
      const older = await apiCreateProject(user, 'older');
      const newer = await apiCreateProject(user, 'newer');
      await addMember(user, older.project_id, other);
      await addMember(user, newer.project_id, other);
      const order = async () => (await listAll(user, 10)).ids;
      expect(await order()).toEqual([newer.project_id, older.project_id]);

      // The other member chats in `older`: private to them, so the caller's order stays.
      await addMessages(t.sql, await sessionIn(other, older.project_id), 2);
      expect(await order()).toEqual([newer.project_id, older.project_id]);

      // The caller's own session activity in `older` moves it up.
      const session = await sessionIn(user, older.project_id);
      expect(await order()).toEqual([older.project_id, newer.project_id]);

      // A rename of `newer` (by anyone) is activity for every member.
      const renamed = await inject({
        method: 'PATCH',
        url: `/api/v1/projects/${newer.project_id}`,
        headers: other.headers,
        payload: { title: 'renamed' },
      });
      expect(renamed.statusCode).toBe(200);
      expect(await order()).toEqual([newer.project_id, older.project_id]);

      // A new message in the caller's session moves `older` up again; last_activity_at follows it.
      const [message] = await addMessages(t.sql, session, ['hello']);
      const ids = await order();
      expect(ids).toEqual([older.project_id, newer.project_id]);
      const got = await inject({
        method: 'GET',
        url: `/api/v1/projects/${older.project_id}`,
        headers: user.headers,
      });
      expect(new Date(got.json().last_activity_at).getTime()).toBe(new Date(message.created_at).getTime());
    });

    it('importing older messages never moves a project’s activity back', async () => {
      const user = await createUser(t.app);
      const project = await createProject(t.app, user);
      const session = await sessionIn(user, project.project_id);
      const activity = async () =>
        (
          await t.sql.query<{ at: string }>(
            `SELECT last_activity_at::text AS at FROM user_projects WHERE user_id = $1 AND project_id = $2`,
            [user.user_id, project.project_id],
          )
        )[0].at;
      const before = await activity();
      await addMessages(t.sql, session, [{ content: 'old', created_at: '2001-01-01T00:00:00Z' }]);
      expect(await activity()).toBe(before);
    });

    it.each([
      [{ limit: '0' }, 'limit'],
      [{ limit: '101' }, 'limit'],
      [{ limit: 'abc' }, 'limit'],
      [{ limit: '1.5' }, 'limit'],
      [{ cursor: 'not-a-cursor!' }, 'cursor'],
      [
        { cursor: Buffer.from('p1|2026-02-30T00:00:00.000000Z|' + randomUUID()).toString('base64url') },
        'cursor',
      ],
      [
        { cursor: Buffer.from('v1|2026-01-01T00:00:00.000000Z|' + randomUUID()).toString('base64url') },
        'cursor',
      ],
      [{ sort: 'title' }, 'sort'],
    ])('query %j is 400 naming %s', async (query, field) => {
      const user = await createUser(t.app);
      const response = await inject({ method: 'GET', url: '/api/v1/projects', headers: user.headers, query });
      expect(response.statusCode).toBe(400);
      expect(response.json().details.map((d: { field: string }) => d.field)).toContain(field);
    });

    it('needs a caller (401)', async () => {
      const response = await inject({ method: 'GET', url: '/api/v1/projects' });
      expect(response.statusCode).toBe(401);
    });
  });

  describe('GET, PATCH and DELETE /api/v1/projects/{project_id}', () => {
    it('GET returns the project to a member who did not create it, with is_creator false', async () => {
      const owner = await createUser(t.app);
      const member = await createUser(t.app);
      const project = await apiCreateProject(owner, 'Shared');
      await addMember(owner, project.project_id, member);
      const response = await inject({
        method: 'GET',
        url: `/api/v1/projects/${project.project_id}`,
        headers: member.headers,
      });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({
        project_id: project.project_id,
        title: 'Shared',
        created_by: owner.user_id,
        is_creator: false,
      });
    });

    it('every id-bearing route answers 404 for another user’s project, exactly as for a missing id', async () => {
      const owner = await createUser(t.app);
      const stranger = await createUser(t.app);
      const project = await apiCreateProject(owner, 'Private');
      for (const projectId of [project.project_id, randomUUID()]) {
        for (const route of idRoutes(projectId, owner.user_id)) {
          const response = await inject({ ...route, headers: stranger.headers });
          expect({ route: `${route.method} ${route.url}`, status: response.statusCode }).toEqual({
            route: `${route.method} ${route.url}`,
            status: 404,
          });
          expect(response.json()).toMatchObject({ error: 'not_found', message: 'Project not found' });
        }
      }
      // Nothing changed for the owner.
      const still = await inject({
        method: 'GET',
        url: `/api/v1/projects/${project.project_id}/members`,
        headers: owner.headers,
      });
      expect(still.json().data.map((m: MemberBody) => m.user_id)).toEqual([owner.user_id]);
      expect(
        (
          await inject({
            method: 'GET',
            url: `/api/v1/projects/${project.project_id}`,
            headers: owner.headers,
          })
        ).json().title,
      ).toBe('Private');
    });

    it('every id-bearing route answers 400 naming the parameter for a malformed uuid, and 401 without a caller', async () => {
      const user = await createUser(t.app);
      const project = await createProject(t.app, user);
      for (const route of idRoutes('not-a-uuid', user.user_id)) {
        const response = await inject({ ...route, headers: user.headers });
        expect(response.statusCode).toBe(400);
        expect(response.json().details).toEqual([{ field: 'project_id', message: 'must be a UUID' }]);
      }
      const badMember = await inject({
        method: 'DELETE',
        url: `/api/v1/projects/${project.project_id}/members/nope`,
        headers: user.headers,
      });
      expect(badMember.statusCode).toBe(400);
      expect(badMember.json().details).toEqual([{ field: 'user_id', message: 'must be a UUID' }]);
      for (const route of idRoutes(project.project_id, user.user_id)) {
        const response = await inject(route);
        expect(response.statusCode).toBe(401);
      }
    });

    it('PATCH renames (trimmed) and moves updated_at; null clears the title; {} changes nothing', async () => {
      const user = await createUser(t.app);
      const project = await apiCreateProject(user, 'Before');
      const renamed = await inject({
        method: 'PATCH',
        url: `/api/v1/projects/${project.project_id}`,
        headers: user.headers,
        payload: { title: ' After ' },
      });
      expect(renamed.statusCode).toBe(200);
      expect(renamed.json()).toMatchObject({
        project_id: project.project_id,
        title: 'After',
        is_creator: true,
      });
      expect(new Date(renamed.json().updated_at).getTime()).toBeGreaterThan(
        new Date(project.updated_at).getTime(),
      );

      const unchanged = await inject({
        method: 'PATCH',
        url: `/api/v1/projects/${project.project_id}`,
        headers: user.headers,
        payload: {},
      });
      expect(unchanged.statusCode).toBe(200);
      expect(unchanged.json()).toEqual(renamed.json());

      const cleared = await inject({
        method: 'PATCH',
        url: `/api/v1/projects/${project.project_id}`,
        headers: user.headers,
        payload: { title: null },
      });
      expect(cleared.statusCode).toBe(200);
      expect(cleared.json().title).toBeNull();
    });

    it.each([
      [{ title: '' }, 'title'],
      [{ title: 'x'.repeat(201) }, 'title'],
      [{ title: ['x'] }, 'title'],
      [{ created_by: '00000000-0000-0000-0000-000000000000' }, 'created_by'],
    ])('PATCH body %j is 400 naming %s', async (payload, field) => {
      const user = await createUser(t.app);
      const project = await createProject(t.app, user, 'Keep');
      const response = await inject({
        method: 'PATCH',
        url: `/api/v1/projects/${project.project_id}`,
        headers: user.headers,
        payload,
      });
      expect(response.statusCode).toBe(400);
      expect(response.json().details.map((d: { field: string }) => d.field)).toContain(field);
    });

    it('DELETE by the creator removes the project with every member’s sessions and messages (204, then 404)', async () => {
      const owner = await createUser(t.app);
      const member = await createUser(t.app);
      const project = await apiCreateProject(owner);
      await addMember(owner, project.project_id, member);
      await addMessages(t.sql, await sessionIn(member, project.project_id), 3);
      await addMessages(t.sql, await sessionIn(owner, project.project_id), 1);
      const response = await inject({
        method: 'DELETE',
        url: `/api/v1/projects/${project.project_id}`,
        headers: owner.headers,
      });
      expect(response.statusCode).toBe(204);
      expect(response.body).toBe('');
      const [left] = await t.sql.query<Record<string, number>>(
        `SELECT (SELECT count(*)::int FROM dossier WHERE project_id = $1) AS projects,
                (SELECT count(*)::int FROM user_projects WHERE project_id = $1) AS memberships,
                (SELECT count(*)::int FROM sessions WHERE project_id = $1) AS sessions`,
        [project.project_id],
      );
      expect(left).toEqual({ projects: 0, memberships: 0, sessions: 0 });
      for (const user of [owner, member]) {
        const again = await inject({
          method: 'GET',
          url: `/api/v1/projects/${project.project_id}`,
          headers: user.headers,
        });
        expect(again.statusCode).toBe(404);
      }
    });

    it('DELETE by a member who did not create the project is 403 and deletes nothing', async () => {
      const owner = await createUser(t.app);
      const member = await createUser(t.app);
      const project = await apiCreateProject(owner);
      await addMember(owner, project.project_id, member);
      const response = await inject({
        method: 'DELETE',
        url: `/api/v1/projects/${project.project_id}`,
        headers: member.headers,
      });
      expect(response.statusCode).toBe(403);
      expect(response.json().error).toBe('forbidden');
      const still = await inject({
        method: 'GET',
        url: `/api/v1/projects/${project.project_id}`,
        headers: owner.headers,
      });
      expect(still.statusCode).toBe(200);
    });

    it('DELETE of a legacy project without a creator is allowed to any member', async () => {
      const a = await createUser(t.app);
      const b = await createUser(t.app);
      const projectId = await legacyProject(a, b);
      const got = await inject({ method: 'GET', url: `/api/v1/projects/${projectId}`, headers: b.headers });
      expect(got.json()).toMatchObject({ created_by: null, is_creator: false, title: 'legacy' });
      const response = await inject({
        method: 'DELETE',
        url: `/api/v1/projects/${projectId}`,
        headers: b.headers,
      });
      expect(response.statusCode).toBe(204);
      const [{ count }] = await t.sql.query<{ count: number }>(
        `SELECT count(*)::int AS count FROM dossier WHERE project_id = $1`,
        [projectId],
      );
      expect(count).toBe(0);
    });
  });

  describe('members', () => {
    it('lists members with public fields only (no email), creator first, to every member', async () => {
      const owner = await createUser(t.app, {
        display_name: 'Owner',
        avatar_url: 'https://example.test/o.png',
      });
      const member = await createUser(t.app, { display_name: 'Member' });
      const project = await apiCreateProject(owner);
      await addMember(owner, project.project_id, member);
      for (const viewer of [owner, member]) {
        const response = await inject({
          method: 'GET',
          url: `/api/v1/projects/${project.project_id}/members`,
          headers: viewer.headers,
        });
        expect(response.statusCode).toBe(200);
        expect(response.json()).toEqual({
          data: [
            {
              user_id: owner.user_id,
              display_name: 'Owner',
              avatar_url: 'https://example.test/o.png',
              is_creator: true,
              joined_at: expect.any(String),
            },
            {
              user_id: member.user_id,
              display_name: 'Member',
              avatar_url: null,
              is_creator: false,
              joined_at: expect.any(String),
            },
          ],
        });
        expect(response.body).not.toContain('@');
      }
    });

    it('POST adds an existing user (201), is idempotent for a member (200), and the new member sees the project', async () => {
      const owner = await createUser(t.app);
      const guest = await createUser(t.app, { display_name: 'Guest' });
      const project = await apiCreateProject(owner, 'Team');
      const add = () =>
        inject({
          method: 'POST',
          url: `/api/v1/projects/${project.project_id}/members`,
          headers: owner.headers,
          payload: { user_id: guest.user_id.toUpperCase() },
        });
      const first = await add();
      expect(first.statusCode).toBe(201);
      expect(first.json()).toEqual({
        user_id: guest.user_id,
        display_name: 'Guest',
        avatar_url: null,
        is_creator: false,
        joined_at: expect.any(String),
      });
      const second = await add();
      expect(second.statusCode).toBe(200);
      expect(second.json()).toEqual(first.json());
      const [{ count }] = await t.sql.query<{ count: number }>(
        `SELECT count(*)::int AS count FROM user_projects WHERE project_id = $1`,
        [project.project_id],
      );
      expect(count).toBe(2);
      const list = await inject({ method: 'GET', url: '/api/v1/projects', headers: guest.headers });
      expect(list.json().data).toEqual([
        expect.objectContaining({ project_id: project.project_id, is_creator: false }),
      ]);
    });

    it('any member (not only the creator) may add users', async () => {
      const owner = await createUser(t.app);
      const member = await createUser(t.app);
      const third = await createUser(t.app);
      const project = await apiCreateProject(owner);
      await addMember(owner, project.project_id, member);
      await addMember(member, project.project_id, third);
      const got = await inject({
        method: 'GET',
        url: `/api/v1/projects/${project.project_id}`,
        headers: third.headers,
      });
      expect(got.statusCode).toBe(200);
    });

    it('POST with an unknown user is 404 (User), and adds nothing', async () => {
      const owner = await createUser(t.app);
      const project = await apiCreateProject(owner);
      const response = await inject({
        method: 'POST',
        url: `/api/v1/projects/${project.project_id}/members`,
        headers: owner.headers,
        payload: { user_id: randomUUID() },
      });
      expect(response.statusCode).toBe(404);
      expect(response.json()).toMatchObject({ error: 'not_found', message: 'User not found' });
    });

    it.each([
      [{}, 'user_id'],
      [{ user_id: 'nope' }, 'user_id'],
      [{ user_id: 7 }, 'user_id'],
      [{ user_id: '7d3c4b1e-2f7a-4c55-9d0e-2b8f5f1c9a10', role: 'admin' }, 'role'],
    ])('POST body %j is 400 naming %s', async (payload, field) => {
      const owner = await createUser(t.app);
      const project = await createProject(t.app, owner);
      const response = await inject({
        method: 'POST',
        url: `/api/v1/projects/${project.project_id}/members`,
        headers: owner.headers,
        payload,
      });
      expect(response.statusCode).toBe(400);
      expect(response.json().details.map((d: { field: string }) => d.field)).toContain(field);
    });

    it('a member may leave: 204, the project is gone for them, and so are their sessions in it (only there)', async () => {
      const owner = await createUser(t.app);
      const member = await createUser(t.app);
      const project = await apiCreateProject(owner);
      await addMember(owner, project.project_id, member);
      const inShared = await sessionIn(member, project.project_id);
      await addMessages(t.sql, inShared, 2);
      const ownSession = await sessionIn(owner, project.project_id);
      const elsewhere = await sessionIn(member, (await createProject(t.app, member, 'mine')).project_id);
      const response = await inject({
        method: 'DELETE',
        url: `/api/v1/projects/${project.project_id}/members/${member.user_id}`,
        headers: member.headers,
      });
      expect(response.statusCode).toBe(204);
      const got = await inject({
        method: 'GET',
        url: `/api/v1/projects/${project.project_id}`,
        headers: member.headers,
      });
      expect(got.statusCode).toBe(404);
      const sessions = await t.sql.query<{ session_id: string }>(
        `SELECT session_id::text FROM sessions WHERE session_id = ANY($1::uuid[]) ORDER BY session_id`,
        [[inShared, ownSession, elsewhere]],
      );
      expect(sessions.map((s) => s.session_id).sort()).toEqual([ownSession, elsewhere].sort());
      const [{ orphans }] = await t.sql.query<{ orphans: number }>(
        `SELECT count(*)::int AS orphans FROM chat_messages WHERE session_id = $1`,
        [inShared],
      );
      expect(orphans).toBe(0);
    });

    it('the creator may remove a member; another member may not (403); nobody may remove the creator (403)', async () => {
      const owner = await createUser(t.app);
      const a = await createUser(t.app);
      const b = await createUser(t.app);
      const project = await apiCreateProject(owner);
      await addMember(owner, project.project_id, a);
      await addMember(owner, project.project_id, b);
      const remove = (actor: TestUser, target: TestUser) =>
        inject({
          method: 'DELETE',
          url: `/api/v1/projects/${project.project_id}/members/${target.user_id}`,
          headers: actor.headers,
        });
      const byMember = await remove(a, b);
      expect(byMember.statusCode).toBe(403);
      for (const actor of [a, owner]) {
        const creator = await remove(actor, owner);
        expect(creator.statusCode).toBe(403);
        expect(creator.json().error).toBe('forbidden');
      }
      const byOwner = await remove(owner, b);
      expect(byOwner.statusCode).toBe(204);
      const members = await inject({
        method: 'GET',
        url: `/api/v1/projects/${project.project_id}/members`,
        headers: owner.headers,
      });
      expect(members.json().data.map((m: MemberBody) => m.user_id)).toEqual([owner.user_id, a.user_id]);
      const again = await remove(owner, b);
      expect(again.statusCode).toBe(404);
      expect(again.json().message).toBe('Member not found');
    });

    it('in a legacy project any member may remove another, but the last member cannot leave (409)', async () => {
      const a = await createUser(t.app);
      const b = await createUser(t.app);
      const projectId = await legacyProject(a, b);
      const removeB = await inject({
        method: 'DELETE',
        url: `/api/v1/projects/${projectId}/members/${b.user_id}`,
        headers: a.headers,
      });
      expect(removeB.statusCode).toBe(204);
      const leave = await inject({
        method: 'DELETE',
        url: `/api/v1/projects/${projectId}/members/${a.user_id}`,
        headers: a.headers,
      });
      expect(leave.statusCode).toBe(409);
      expect(leave.json().error).toBe('conflict');
    });
  });

  describe('row-level security underneath the service', () => {
    it('a query without any owner filter, run in a caller’s context, sees only that caller’s projects and memberships', async () => {
      const a = await createUser(t.app);
      const b = await createUser(t.app);
      const own = await createProject(t.app, a, 'a only');
      const shared = await apiCreateProject(b, 'shared');
      await addMember(b, shared.project_id, a);
      await createProject(t.app, b, 'b only');
      const seen = await t.database.asUser({ userId: a.user_id, via: 'header' }, async (tx) => ({
        projects: (await prismaOf(tx).dossier.findMany({ select: { projectId: true } }))
          .map((p) => p.projectId)
          .sort(),
        memberships: (await prismaOf(tx).userProject.findMany({ select: { userId: true, projectId: true } }))
          .length,
        users: (await prismaOf(tx).user.findMany({ select: { userId: true } })).map((u) => u.userId),
      }));
      expect(seen.projects).toEqual([own.project_id, shared.project_id].sort());
      expect(seen.memberships).toBe(3); // a in own; a and b in shared
      expect(seen.users).toEqual([a.user_id]);
    });

    it('the repository without the service’s rules still cannot rename, delete or change members of a project the caller may not', async () => {
      const owner = await createUser(t.app);
      const member = await createUser(t.app);
      const stranger = await createUser(t.app);
      const project = await apiCreateProject(owner, 'Guarded');
      await addMember(owner, project.project_id, member);
      const repo = t.app.get(ProjectsRepository);
      const asUser = <T>(user: TestUser, work: (tx: Tx) => Promise<T>) =>
        t.database.asUser({ userId: user.user_id, via: 'header' }, work);
      expect(await asUser(member, (tx) => repo.delete(tx, project.project_id))).toBe(false);
      expect(await asUser(stranger, (tx) => repo.delete(tx, project.project_id))).toBe(false);
      expect(await asUser(stranger, (tx) => repo.updateTitle(tx, project.project_id, 'hacked'))).toBe(false);
      expect(await asUser(stranger, (tx) => repo.removeMember(tx, project.project_id, member.user_id))).toBe(
        false,
      );
      expect(await asUser(stranger, (tx) => repo.listMembers(tx, project.project_id))).toEqual([]);
      expect(
        await asUser(stranger, (tx) => repo.findView(tx, project.project_id, stranger.user_id)),
      ).toBeNull();
      const [row] = await t.sql.query<{ title: string; members: number }>(
        `SELECT title, (SELECT count(*)::int FROM user_projects WHERE project_id = $1) AS members
           FROM dossier WHERE project_id = $1`,
        [project.project_id],
      );
      expect(row).toEqual({ title: 'Guarded', members: 2 });
    });

    it('sessions stay private to their owner inside a shared project', async () => {
      const owner = await createUser(t.app);
      const member = await createUser(t.app);
      const project = await apiCreateProject(owner);
      await addMember(owner, project.project_id, member);
      const ownerSession = await sessionIn(owner, project.project_id);
      await addMessages(t.sql, ownerSession, ['secret']);
      const memberSession = await sessionIn(member, project.project_id);
      const seen = await t.database.asUser({ userId: member.user_id, via: 'header' }, async (tx) => ({
        sessions: (await prismaOf(tx).session.findMany({ where: { projectId: project.project_id } })).map(
          (s) => s.sessionId,
        ),
        messages: await prismaOf(tx).chatMessage.count({ where: { sessionId: ownerSession } }),
      }));
      expect(seen).toEqual({ sessions: [memberSession], messages: 0 });
    });

    it('the members function tells a non-member nothing, and a direct membership insert by a non-member is refused', async () => {
      const owner = await createUser(t.app);
      const stranger = await createUser(t.app);
      const project = await createProject(t.app, owner);
      const auth = { userId: stranger.user_id, via: 'header' as const };
      const rows = await t.database.asUser(
        auth,
        (tx) =>
          prismaOf(tx).$queryRaw<unknown[]>`SELECT * FROM app.project_members(${project.project_id}::uuid)`,
      );
      expect(rows).toEqual([]);
      await expect(
        t.database.asUser(auth, (tx) =>
          prismaOf(tx).userProject.create({
            data: { userId: stranger.user_id, projectId: project.project_id },
          }),
        ),
      ).rejects.toThrow();
    });
  });
});
