/**
 * The users table's statements and row mapping, in a module that loads neither Nest nor Prisma (the
 * benchmark's servers send the same statements). Timestamps are the API's ISO text (database/timestamps.ts).
 */

/** A user's profile. */
export interface UserRecord {
  userId: string;
  email: string | null;
  displayName: string | null;
  avatarUrl: string | null;
  /** ISO 8601 in UTC to the millisecond, as every response prints timestamps. */
  createdAt: string;
  updatedAt: string;
}

/** A row of the statements below, as sqlOf() returns it. */
export interface UserRow {
  user_id: string;
  email: string | null;
  display_name: string | null;
  avatar_url: string | null;
  created_at: string;
  updated_at: string;
}

const USER_COLUMNS = 'user_id, email, display_name, avatar_url, created_at, updated_at';

/** The caller's own row (RLS shows no other). Parameters: user id. */
export const USER_BY_ID = `SELECT ${USER_COLUMNS} FROM users WHERE user_id = $1::uuid`;

/**
 * Creates the user unless a row with this id exists (no row then). Parameters: user id, email, display
 * name, avatar URL.
 */
export const INSERT_USER_IF_ABSENT = `INSERT INTO users (user_id, email, display_name, avatar_url)
      VALUES ($1::uuid, $2, $3, $4)
      ON CONFLICT (user_id) DO NOTHING
      RETURNING ${USER_COLUMNS}`;

export function toUserRecord(row: UserRow): UserRecord {
  return {
    userId: row.user_id,
    email: row.email,
    displayName: row.display_name,
    avatarUrl: row.avatar_url,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
