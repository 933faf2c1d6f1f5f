import { Injectable } from '@nestjs/common';
import type { Tx } from '../database/database.service.js';

export interface SessionRecord {
  sessionId: string;
  userId: string;
  projectId: string | null;
  title: string | null;
  createdAt: Date;
  updatedAt: Date;
  lastMessageAt: Date;
  isActive: boolean;
  messageCount: number;
  lastMessagePreview: string | null;
}

export const SESSION_SELECT = {
  sessionId: true,
  userId: true,
  projectId: true,
  title: true,
  createdAt: true,
  updatedAt: true,
  lastMessageAt: true,
  isActive: true,
  messageCount: true,
  lastMessagePreview: true,
} as const;

/** SQL for the sessions table. Every method runs inside the caller's RLS transaction. */
@Injectable()
export class SessionsRepository {
  create(
    tx: Tx,
    fields: { userId: string; projectId: string; title: string | null },
  ): Promise<SessionRecord> {
    return tx.session.create({ data: fields, select: SESSION_SELECT });
  }

  /** The session if the caller owns it (RLS hides everyone else's). */
  findById(tx: Tx, sessionId: string): Promise<SessionRecord | null> {
    return tx.session.findUnique({ where: { sessionId }, select: SESSION_SELECT });
  }
}
