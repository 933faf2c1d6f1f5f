import type { SqlExecutor } from '../../src/database/sql-executor.js';

/**
 * Writes a tree of messages through the maintenance executor, each naming its parent by key: `parent` is the
 * key of an earlier message, or absent for a first message. Returns the ids by key.
 */
export async function addTree(
  sql: SqlExecutor,
  sessionId: string,
  nodes: {
    key: string;
    parent?: string;
    role: 'user' | 'assistant' | 'system';
    content: string;
    metadata?: object;
    at: string;
  }[],
): Promise<Record<string, string>> {
  const ids: Record<string, string> = {};
  for (const node of nodes) {
    const [row] = await sql.query<{ message_id: string }>(
      `INSERT INTO chat_messages (session_id, role, content, metadata, created_at, parent_id, depth)
       VALUES ($1::uuid, $2, $3, $4::jsonb, $5::timestamptz, $6::uuid, CASE WHEN $6::uuid IS NULL THEN 0 END)
       RETURNING message_id`,
      [
        sessionId,
        node.role,
        node.content,
        node.metadata ? JSON.stringify(node.metadata) : null,
        node.at,
        node.parent ? ids[node.parent] : null,
      ],
    );
    ids[node.key] = row.message_id;
  }
  return ids;
}
