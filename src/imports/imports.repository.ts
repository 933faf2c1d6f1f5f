import { Injectable } from '@nestjs/common';
import { sqlOf, type Tx } from '../database/database.service.js';
import {
  ADD_PROGRESS,
  FINISH_IMPORT,
  HEARTBEAT,
  IMPORT_BY_ID,
  IMPORTED_SESSION,
  INSERT_IMPORT,
  RECORD_CONVERSATION,
  SET_PROJECT,
  SET_STATUS,
  type ImportRow,
  type ImportStatus,
} from './imports.sql.js';

export type { ImportRow, ImportStatus } from './imports.sql.js';

/** An import owned by `userId`: the owner filter every statement carries, on top of RLS. */
export interface OwnedImport {
  userId: string;
  importId: string;
}

/** SQL for `imports` and `imported_conversations`, in the caller's RLS transaction (imports.sql.ts). */
@Injectable()
export class ImportsRepository {
  async create(
    tx: Tx,
    fields: { userId: string; source: string; fileKind: string; fileBytes: number; projectId: string | null },
  ): Promise<ImportRow> {
    const [row] = await sqlOf(tx).query<ImportRow>(INSERT_IMPORT, [
      fields.userId,
      fields.source,
      fields.fileKind,
      fields.fileBytes,
      fields.projectId,
    ]);
    return row;
  }

  async find(tx: Tx, owned: OwnedImport): Promise<ImportRow | null> {
    const [row] = await sqlOf(tx).query<ImportRow>(IMPORT_BY_ID, [owned.importId, owned.userId]);
    return row ?? null;
  }

  async setStatus(tx: Tx, owned: OwnedImport, status: ImportStatus): Promise<void> {
    await sqlOf(tx).query(SET_STATUS, [owned.importId, owned.userId, status]);
  }

  async heartbeat(tx: Tx, owned: OwnedImport): Promise<void> {
    await sqlOf(tx).query(HEARTBEAT, [owned.importId, owned.userId]);
  }

  /** Ends a queued or running import (an ended one stays as it is). */
  async finish(
    tx: Tx,
    owned: OwnedImport,
    status: 'succeeded' | 'failed',
    errors: { reason: string }[],
  ): Promise<void> {
    await sqlOf(tx).query(FINISH_IMPORT, [owned.importId, owned.userId, status, JSON.stringify(errors)]);
  }

  async addProgress(
    tx: Tx,
    owned: OwnedImport,
    seen: number,
    skipped: { conversation_id: string | null; reason: string }[],
  ): Promise<void> {
    await sqlOf(tx).query(ADD_PROGRESS, [owned.importId, owned.userId, seen, JSON.stringify(skipped)]);
  }

  async setProject(tx: Tx, owned: OwnedImport, projectId: string): Promise<void> {
    await sqlOf(tx).query(SET_PROJECT, [owned.importId, owned.userId, projectId]);
  }

  async importedSession(tx: Tx, userId: string, conversationId: string): Promise<string | null> {
    const [row] = await sqlOf(tx).query<{ session_id: string }>(IMPORTED_SESSION, [userId, conversationId]);
    return row?.session_id ?? null;
  }

  async recordConversation(
    tx: Tx,
    owned: OwnedImport,
    conversationId: string,
    sessionId: string,
    messages: number,
  ): Promise<void> {
    await sqlOf(tx).query(RECORD_CONVERSATION, [
      owned.userId,
      conversationId,
      sessionId,
      owned.importId,
      messages,
    ]);
  }
}
