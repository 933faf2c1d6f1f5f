/**
 * The ids, anchors and cursors the scenarios need, read from the loaded data set (the generator's ids are
 * md5-derived, so most are known; positions inside sessions are looked up).
 */
import pg from 'pg';
import { SHAPE, userId } from './dataset.js';

export interface OwnedSession {
  userId: string;
  sessionId: string;
}

export interface Fixtures {
  /** All generated users, user 1 first. */
  users: string[];
  heavyUser: string;
  lightUser: string;
  /** The user with thousands of sessions. */
  powerUser: string;
  powerUserSessions: number;
  /** The heavy user's most recent session: 50,000 messages (deep paging). */
  deepSession: OwnedSession;
  deepSessionMessages: number;
  /** The light user's most recent session: 10 messages. */
  lightSession: OwnedSession;
  /** The power user's most recent session (a short one, of a user with thousands of sessions). */
  powerSession: OwnedSession;
  /** Message ids of the deep session by depth from the newest: the `before` anchor `depth` messages deep. */
  deepAnchors: Record<number, string>;
  /** Cursors into the power user's list: after the session at position n (1-based), for limit pages. */
  powerCursors: Record<number, string>;
  /** Sessions the chat and rename scenarios write to: many users' short sessions. */
  writePool: OwnedSession[];
  /** A project the power user belongs to (every generated user has one). */
  powerProject: string;
}

/** Parley's session cursor (src/common/keyset-cursor.ts, SESSION_CURSOR): base64url of `v1|<timestamp>|<session id>`. */
export function sessionCursor(lastMessageAt: string, id: string): string {
  return Buffer.from(`v1|${lastMessageAt}|${id}`, 'utf8').toString('base64url');
}

export const ANCHOR_DEPTHS = [50, 1000, 10000, 20000, 40000];
export const CURSOR_POSITIONS = [1000];

export async function loadFixtures(databaseUrl: string): Promise<Fixtures> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const users = Array.from({ length: SHAPE.users }, (_, i) => userId(i + 1));
    const heavyUser = userId(SHAPE.heavyUser);
    const lightUser = userId(SHAPE.lightUser);
    const powerNo = Number(Object.entries(SHAPE.powerUsers).sort((a, b) => b[1] - a[1])[0][0]);
    const powerUser = userId(powerNo);
    const newest = async (user: string) => {
      const r = await client.query<{ session_id: string; message_count: number }>(
        `SELECT session_id, message_count FROM sessions WHERE user_id = $1
          ORDER BY last_message_at DESC, session_id DESC LIMIT 1`,
        [user],
      );
      return r.rows[0];
    };
    const deep = await newest(heavyUser);
    const light = await newest(lightUser);
    const power = await newest(powerUser);
    const deepAnchors: Record<number, string> = {};
    for (const depth of ANCHOR_DEPTHS) {
      // `before` = this message returns the `limit` messages older than it: the anchor `depth` from the newest.
      const r = await client.query<{ message_id: string }>(
        `SELECT message_id FROM chat_messages WHERE session_id = $1
          ORDER BY created_at DESC, seq DESC OFFSET $2 LIMIT 1`,
        [deep.session_id, depth - 1],
      );
      deepAnchors[depth] = r.rows[0].message_id;
    }
    const powerCursors: Record<number, string> = {};
    for (const position of CURSOR_POSITIONS) {
      const r = await client.query<{ session_id: string; at: string }>(
        `SELECT session_id, to_char(last_message_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at
           FROM sessions WHERE user_id = $1
          ORDER BY last_message_at DESC, session_id DESC OFFSET $2 LIMIT 1`,
        [powerUser, position - 1],
      );
      powerCursors[position] = sessionCursor(r.rows[0].at, r.rows[0].session_id);
    }
    // Each of 256 ordinary users' newest session (users 101..356), so concurrent writers rarely share a row.
    const pool = await client.query<{ user_id: string; session_id: string }>(
      `SELECT DISTINCT ON (s.user_id) s.user_id, s.session_id
         FROM sessions s WHERE s.user_id = ANY($1::uuid[])
        ORDER BY s.user_id, s.last_message_at DESC, s.session_id DESC`,
      [users.slice(100, 356)],
    );
    const project = await client.query<{ project_id: string }>(
      `SELECT project_id FROM user_projects WHERE user_id = $1 ORDER BY project_id LIMIT 1`,
      [powerUser],
    );
    return {
      users,
      heavyUser,
      lightUser,
      powerUser,
      powerUserSessions: SHAPE.powerUsers[powerNo],
      deepSession: { userId: heavyUser, sessionId: deep.session_id },
      deepSessionMessages: deep.message_count,
      lightSession: { userId: lightUser, sessionId: light.session_id },
      powerSession: { userId: powerUser, sessionId: power.session_id },
      deepAnchors,
      powerCursors,
      writePool: pool.rows.map((r) => ({ userId: r.user_id, sessionId: r.session_id })),
      powerProject: project.rows[0].project_id,
    };
  } finally {
    await client.end();
  }
}
