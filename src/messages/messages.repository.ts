import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Prisma } from '../generated/prisma/client.js';
import type { Tx } from '../database/database.service.js';

export type MessageRole = 'user' | 'assistant' | 'system';
export const MESSAGE_ROLES: readonly MessageRole[] = ['user', 'assistant', 'system'];

export interface MessageRecord {
  messageId: string;
  sessionId: string;
  turnId: string | null;
  role: MessageRole;
  content: string;
  metadata: Record<string, unknown> | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewMessage {
  messageId?: string;
  sessionId: string;
  role: MessageRole;
  content: string;
  metadata?: Record<string, unknown> | null;
  turnId?: string | null;
}

const SELECT = {
  messageId: true,
  sessionId: true,
  turnId: true,
  role: true,
  content: true,
  metadata: true,
  createdAt: true,
  updatedAt: true,
} as const;

/** SQL for chat_messages. Inserting moves the session's counters through the table's trigger. */
@Injectable()
export class MessagesRepository {
  async insert(tx: Tx, message: NewMessage): Promise<MessageRecord> {
    const row = await tx.chatMessage.create({
      data: {
        messageId: message.messageId ?? randomUUID(),
        sessionId: message.sessionId,
        role: message.role,
        content: message.content,
        metadata: (message.metadata ?? undefined) as Prisma.InputJsonValue | undefined,
        turnId: message.turnId ?? null,
      },
      select: SELECT,
    });
    return row as MessageRecord;
  }
}
