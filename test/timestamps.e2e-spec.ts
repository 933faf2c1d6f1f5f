/**
 * One timestamp convention in every response: users and projects carry their timestamps as the API's ISO
 * text from the repository on (like sessions and messages), and print them exactly as before: UTC, to the
 * millisecond, with a Z. Each printed value is checked against the row's own value in the database.
 */
import { DatabaseService } from '../src/database/database.service.js';
import { ProjectsRepository } from '../src/projects/projects.repository.js';
import { UsersRepository } from '../src/users/users.repository.js';
import { createProject, createUser, type TestUser } from './support/factories.js';
import { createTestApp, DATABASE_KIND, type TestApp } from './support/test-app.js';

const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe(`timestamps in responses (${DATABASE_KIND})`, () => {
  let t: TestApp;
  let user: TestUser;
  let other: TestUser;

  beforeAll(async () => {
    t = await createTestApp();
    user = await createUser(t.app);
    other = await createUser(t.app);
  });

  afterAll(async () => {
    await t?.close();
  });

  /** A timestamptz column of one row, printed by PostgreSQL in the API's form. */
  async function stored(sql: string, id: string): Promise<string> {
    const [row] = await t.sql.query<{ at: string }>(
      `SELECT to_char(${sql} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at`,
      [id],
    );
    return row.at;
  }

  const userColumn = (column: string) => `(SELECT ${column} FROM users WHERE user_id = $1::uuid)`;
  const projectColumn = (column: string) => `(SELECT ${column} FROM dossier WHERE project_id = $1::uuid)`;

  it('prints user timestamps as ISO text to the millisecond, from every route', async () => {
    const headers = user.headers;
    const me = (await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers })).json();
    const updated = (
      await t.app.inject({
        method: 'PATCH',
        url: '/api/v1/users/me',
        headers,
        payload: { display_name: 'Renamed' },
      })
    ).json();
    for (const body of [me, updated]) {
      expect(body.created_at).toMatch(ISO_MS);
      expect(body.updated_at).toMatch(ISO_MS);
      expect(body.created_at).toBe(await stored(userColumn('created_at'), user.user_id));
    }
    expect(updated.updated_at).toBe(await stored(userColumn('updated_at'), user.user_id));
    const created = await t.app.inject({ method: 'POST', url: '/api/v1/users', payload: {} });
    expect(created.statusCode).toBe(201);
    expect(created.json().created_at).toBe(await stored(userColumn('created_at'), created.json().user_id));
  });

  it('prints project and membership timestamps as ISO text to the millisecond, from every route', async () => {
    const headers = user.headers;
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/projects',
      headers,
      payload: { title: 'Times' },
    });
    expect(created.statusCode).toBe(201);
    const projectId = created.json().project_id as string;
    const got = (await t.app.inject({ method: 'GET', url: `/api/v1/projects/${projectId}`, headers })).json();
    const list = (await t.app.inject({ method: 'GET', url: '/api/v1/projects?limit=5', headers })).json();
    const listed = list.data.find((p: { project_id: string }) => p.project_id === projectId);
    for (const body of [created.json(), got, listed]) {
      for (const field of ['created_at', 'updated_at', 'last_activity_at'])
        expect(body[field]).toMatch(ISO_MS);
      expect(body.created_at).toBe(await stored(projectColumn('created_at'), projectId));
      expect(body.updated_at).toBe(await stored(projectColumn('updated_at'), projectId));
    }
    const added = await t.app.inject({
      method: 'POST',
      url: `/api/v1/projects/${projectId}/members`,
      headers,
      payload: { user_id: other.user_id },
    });
    expect(added.statusCode).toBe(201);
    const members = (
      await t.app.inject({ method: 'GET', url: `/api/v1/projects/${projectId}/members`, headers })
    ).json();
    expect(members.data).toHaveLength(2);
    for (const member of [added.json(), ...members.data]) {
      expect(member.joined_at).toMatch(ISO_MS);
      const [row] = await t.sql.query<{ at: string }>(
        `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at
           FROM user_projects WHERE project_id = $1::uuid AND user_id = $2::uuid`,
        [projectId, member.user_id],
      );
      expect(member.joined_at).toBe(row.at);
    }
  });

  it('hands services text, not Dates, from the users and projects repositories', async () => {
    const db = t.app.get(DatabaseService);
    const auth = { userId: user.user_id, via: 'header' as const };
    const project = await createProject(t.app, user, 'Repository');
    const records = await db.asUser(auth, async (tx) => {
      const users = t.app.get(UsersRepository);
      const projects = t.app.get(ProjectsRepository);
      return {
        me: await users.findById(tx, user.user_id),
        updated: await users.update(tx, user.user_id, { displayName: 'Again' }),
        created: await projects.createForUser(tx, user.user_id, 'Another'),
        view: await projects.findView(tx, project.project_id, user.user_id),
        found: await projects.findById(tx, project.project_id),
        page: await projects.listForUser(tx, user.user_id, 10, null),
        member: await projects.findMember(tx, project.project_id, user.user_id),
      };
    });
    const values = [
      records.me?.createdAt,
      records.me?.updatedAt,
      records.updated.createdAt,
      records.updated.updatedAt,
      records.created.createdAt,
      records.view?.lastActivityAt,
      records.view?.createdAt,
      records.found?.updatedAt,
      ...records.page.projects.flatMap((p) => [p.createdAt, p.updatedAt, p.lastActivityAt]),
      records.member?.joinedAt,
    ];
    for (const value of values) expect(value).toEqual(expect.stringMatching(ISO_MS));
  });
});
