import { Injectable } from '@nestjs/common';
import { sqlOf, type Tx } from '../database/database.service.js';
import {
  EXPORT_BRANCH,
  EXPORT_MESSAGES,
  EXPORT_ROOTS,
  EXPORT_SESSION,
  EXPORT_SESSIONS,
  type ExportBranchRow,
  type ExportMessageRow,
  type ExportSessionRow,
} from './exports.sql.js';

export type { ExportBranchRow, ExportMessageRow, ExportSessionRow } from './exports.sql.js';

/** A position in a keyset-ordered read: the last row's timestamp (PostgreSQL's text) and tie-breaker. */
export interface ExportPosition {
  at: string;
  key: string;
}

/**
 * Reads for exports, each inside the caller's RLS transaction, and each also filtered by the owner (the
 * service passes the caller's id). Statements in exports.sql.ts.
 */
@Injectable()
export class ExportsRepository {
  async session(tx: Tx, userId: string, sessionId: string): Promise<ExportSessionRow | null> {
    const [row] = await sqlOf(tx).query<ExportSessionRow>(EXPORT_SESSION, [sessionId, userId]);
    return row ?? null;
  }

  sessions(
    tx: Tx,
    userId: string,
    projectId: string | null,
    after: ExportPosition | null,
    limit: number,
  ): Promise<ExportSessionRow[]> {
    return sqlOf(tx).query<ExportSessionRow>(EXPORT_SESSIONS, [
      userId,
      projectId,
      after?.at ?? null,
      after?.key ?? null,
      limit,
    ]);
  }

  messages(
    tx: Tx,
    userId: string,
    sessionId: string,
    after: ExportPosition | null,
    limit: number,
  ): Promise<ExportMessageRow[]> {
    return sqlOf(tx).query<ExportMessageRow>(EXPORT_MESSAGES, [
      sessionId,
      userId,
      after?.at ?? null,
      after?.key ?? null,
      limit,
    ]);
  }

  async roots(tx: Tx, userId: string, sessionId: string): Promise<string[]> {
    const rows = await sqlOf(tx).query<{ message_id: string }>(EXPORT_ROOTS, [sessionId, userId]);
    return rows.map((row) => row.message_id);
  }

  /** A page of the session's current branch from `fromDepth` (the caller's session: checked before). */
  branch(tx: Tx, sessionId: string, fromDepth: number, limit: number): Promise<ExportBranchRow[]> {
    return sqlOf(tx).query<ExportBranchRow>(EXPORT_BRANCH, [sessionId, limit, fromDepth]);
  }
}
