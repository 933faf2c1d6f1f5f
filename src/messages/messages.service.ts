import { Injectable } from '@nestjs/common';
import type { AuthContext } from '../auth/auth-context.js';
import { AppError } from '../common/app-error.js';
import { sqlStateOf } from '../common/sql-errors.js';
import { DatabaseService } from '../database/database.service.js';
import type { ListMessagesQueryDto } from './messages.dto.js';
import {
  MessagesRepository,
  type MessageRecord,
  type MessageWindow,
  type PagedMessageRecord,
} from './messages.repository.js';

export interface MessagePage {
  messages: PagedMessageRecord[];
  total: number;
  hasMore: boolean;
  prevBefore: string | null;
  nextAfter: string | null;
}

/** Reading a session's history. The session must be the caller's (else 404, like a missing one). */
@Injectable()
export class MessagesService {
  constructor(
    private readonly db: DatabaseService,
    private readonly messages: MessagesRepository,
  ) {}

  async list(auth: AuthContext, sessionId: string, query: ListMessagesQueryDto): Promise<MessagePage> {
    const window = toWindow(query);
    try {
      // A read that tolerates a replica (one that has replayed the caller's own writes).
      return await this.db.readAsUser(auth, async (tx) => {
        // The session check and the page in one statement: null when the session is not the caller's.
        const page = await this.messages.page(tx, auth.userId, sessionId, window);
        if (!page) throw AppError.notFound('Session');
        const { messages, total, hasMore } = page;
        return { messages, total, hasMore, ...anchors(window, messages, hasMore) };
      });
    } catch (error) {
      // get_branch_messages / get_session_messages raise P0002 when the anchor is not a message of this
      // session, or (after, on the current branch) not on that branch.
      if (sqlStateOf(error) === 'P0002') {
        const field = window.before !== undefined ? 'before' : 'after';
        const message =
          field === 'after' && window.branch === 'current'
            ? "is not a message of this session's current branch"
            : 'is not a message of this session';
        throw AppError.validation(`Invalid request: ${field}: ${message}`, [{ field, message }]);
      }
      throw error;
    }
  }
}

/** Checks that the query names one way of paging at most, and turns it into the repository's window. */
export function toWindow(query: ListMessagesQueryDto): MessageWindow {
  const offset = query.offset ?? 0;
  const latest = query.latest ?? false;
  const chosen = [
    offset > 0 ? 'offset' : undefined,
    query.before !== undefined ? 'before' : undefined,
    query.after !== undefined ? 'after' : undefined,
    latest ? 'latest' : undefined,
  ].filter((name): name is string => name !== undefined);
  if (chosen.length > 1) {
    const message = `use only one of offset, before, after and latest (got ${chosen.join(', ')})`;
    throw AppError.validation(
      `Invalid request: ${message}`,
      chosen.map((field) => ({ field, message })),
    );
  }
  return {
    branch: query.branch ?? 'current',
    limit: query.limit ?? 50,
    offset,
    before: query.before,
    after: query.after,
    latest,
  };
}

/**
 * The ids a client passes to continue: `prev_before` when messages older than the page exist, `next_after`
 * when newer ones do. Which side is known depends on how the page was read.
 */
export function anchors(
  window: MessageWindow,
  messages: MessageRecord[],
  hasMore: boolean,
): { prevBefore: string | null; nextAfter: string | null } {
  const first = messages[0]?.messageId ?? null;
  const last = messages[messages.length - 1]?.messageId ?? null;
  if (window.before !== undefined) return { prevBefore: hasMore ? first : null, nextAfter: last };
  if (window.latest) return { prevBefore: hasMore ? first : null, nextAfter: null };
  if (window.after !== undefined) return { prevBefore: first, nextAfter: hasMore ? last : null };
  return { prevBefore: window.offset > 0 ? first : null, nextAfter: hasMore ? last : null };
}
