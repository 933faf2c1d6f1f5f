/**
 * The read statements of projects (the `dossier` table) and memberships (`user_projects`), and their row
 * mapping, in a module that loads neither Nest nor Prisma (the benchmark's servers can send the same
 * statements). Timestamps are the API's ISO text (database/timestamps.ts), as for sessions and messages.
 */
import type { ProjectCursor } from '../common/keyset-cursor.js';

/** Projects per page when the list does not say (ListProjectsQueryDto's default). */
export const DEFAULT_PROJECT_PAGE = 20;

export interface ProjectRecord {
  projectId: string;
  title: string | null;
  createdBy: string | null;
  /** ISO 8601 in UTC to the millisecond, as every response prints timestamps. */
  createdAt: string;
  updatedAt: string;
}

/** A project as one member sees it: with their own last activity in it. */
export interface ProjectView extends ProjectRecord {
  lastActivityAt: string;
}

/** A member with their public profile fields (never the email). */
export interface MemberRecord {
  userId: string;
  displayName: string | null;
  avatarUrl: string | null;
  isCreator: boolean;
  joinedAt: string;
}

export interface ProjectRow {
  project_id: string;
  title: string | null;
  created_by: string | null;
  created_at: string;
  updated_at: string;
}

export interface ProjectViewRow extends ProjectRow {
  last_activity_at: string;
  /** last_activity_at to the microsecond, for the list's cursor. */
  cursor_at: string;
}

export interface MemberRow {
  user_id: string;
  display_name: string | null;
  avatar_url: string | null;
  is_creator: boolean;
  joined_at: string;
}

/** The project, if the caller may see it (RLS). Parameters: project id. */
export const PROJECT_BY_ID = `SELECT project_id, title, created_by, created_at, updated_at
   FROM dossier WHERE project_id = $1::uuid`;

/** Whether a membership exists. Parameters: user id, project id. */
export const IS_MEMBER = `SELECT 1 AS one FROM user_projects WHERE user_id = $1::uuid AND project_id = $2::uuid`;

/** The project as a user sees it, with their last activity in it. Parameters: project id, user id. */
export const PROJECT_VIEW = `SELECT d.project_id, d.title, d.created_by, d.created_at, d.updated_at,
        COALESCE(up.last_activity_at, d.updated_at) AS last_activity_at, '' AS cursor_at
   FROM dossier d
   LEFT JOIN user_projects up ON up.project_id = d.project_id AND up.user_id = $2::uuid
  WHERE d.project_id = $1::uuid`;

const LIST_COLUMNS = `SELECT d.project_id, d.title, d.created_by, d.created_at, d.updated_at, up.last_activity_at,
        to_char(up.last_activity_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at
   FROM user_projects up
   JOIN dossier d ON d.project_id = up.project_id`;

/**
 * The first page of a user's projects, newest last_activity_at first (ties by project_id), from the
 * (user_id, last_activity_at DESC, project_id DESC) index. Parameters: user id, limit + 1.
 */
export const LIST_PROJECTS = `${LIST_COLUMNS}
  WHERE up.user_id = $1::uuid
  ORDER BY up.last_activity_at DESC, up.project_id DESC
  LIMIT $2::int`;

/** The page after a cursor. Parameters: user id, limit + 1, cursor timestamp text, cursor project id. */
export const LIST_PROJECTS_AFTER = `${LIST_COLUMNS}
  WHERE up.user_id = $1::uuid AND (up.last_activity_at, up.project_id) < ($3::timestamptz, $4::uuid)
  ORDER BY up.last_activity_at DESC, up.project_id DESC
  LIMIT $2::int`;

const MEMBER_COLUMNS = `SELECT m.user_id, m.display_name, m.avatar_url, m.is_creator, m.joined_at
   FROM app.project_members($1::uuid) m`;

/** The members in the order they joined; none unless the caller belongs. Parameters: project id. */
export const LIST_MEMBERS = MEMBER_COLUMNS;

/** One member. Parameters: project id, user id. */
export const FIND_MEMBER = `${MEMBER_COLUMNS}
  WHERE m.user_id = $2::uuid`;

/** Members of a project the caller may see. Parameters: project id. */
export const COUNT_MEMBERS = `SELECT count(*)::int AS count FROM user_projects WHERE project_id = $1::uuid`;

/** Whether a user exists (the users table shows the caller only their own row). Parameters: user id. */
export const USER_EXISTS = `SELECT app.user_exists($1::uuid) AS exists`;

export function toProjectRecord(row: ProjectRow): ProjectRecord {
  return {
    projectId: row.project_id,
    title: row.title,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toProjectView(row: ProjectViewRow): ProjectView {
  return { ...toProjectRecord(row), lastActivityAt: row.last_activity_at };
}

export function toMemberRecord(row: MemberRow): MemberRecord {
  return {
    userId: row.user_id,
    displayName: row.display_name,
    avatarUrl: row.avatar_url,
    isCreator: row.is_creator,
    joinedAt: row.joined_at,
  };
}

/**
 * The page among LIST_PROJECTS's `limit + 1` rows, and where the next page starts (null on the last page):
 * the page's last project, at its last_activity_at to the microsecond.
 */
export function projectPageOfRows(
  rows: ProjectViewRow[],
  limit: number,
): { page: ProjectViewRow[]; next: ProjectCursor | null } {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    page,
    next: rows.length > limit && last ? { lastActivityAt: last.cursor_at, projectId: last.project_id } : null,
  };
}
