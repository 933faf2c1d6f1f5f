import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { createHash } from 'node:crypto';
import type { AuthContext } from '../auth/auth-context.js';
import { AppError } from '../common/app-error.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { DatabaseService, type Tx } from '../database/database.service.js';
import type { ChatReply, PreparedRef } from './chat.types.js';
import { IdempotencyKeysRepository } from './idempotency-keys.repository.js';

/** What claiming a key decided: run afresh, replay a stored reply, or continue a request that failed. */
export type Claim =
  { kind: 'new' } | { kind: 'replay'; reply: ChatReply } | { kind: 'resume'; prepared: PreparedRef };

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
const PURGE_INTERVAL_MS = 60 * 60 * 1000;

/** The Idempotency-Key header's value, checked: 1 to 255 visible ASCII characters. */
export function parseIdempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = (Array.isArray(header) ? header[0] : header).trim();
  if (!KEY_PATTERN.test(value)) {
    throw AppError.validation('Idempotency-Key must be 1 to 255 visible ASCII characters', [
      { field: 'Idempotency-Key', message: 'must be 1 to 255 visible ASCII characters' },
    ]);
  }
  return value;
}

/**
 * The fingerprint a key is bound to: the request's meaning (trimmed text and the ids), not its bytes. The
 * tree's fields count only when given, so a plain message's fingerprint is what it always was.
 */
export function requestHash(request: {
  text: string;
  sessionId?: string;
  projectId?: string;
  parentMessageId?: string | null;
  clientChatId?: string;
}): string {
  const meaning: unknown[] = [
    request.text,
    request.sessionId?.toLowerCase() ?? null,
    request.projectId?.toLowerCase() ?? null,
  ];
  if (request.parentMessageId !== undefined)
    meaning.push({ parent: request.parentMessageId?.toLowerCase() ?? null });
  if (request.clientChatId !== undefined) meaning.push({ chat: request.clientChatId });
  return createHash('sha256').update(JSON.stringify(meaning)).digest('hex');
}

/** The fingerprint of a regeneration: which message of which session. */
export function regenerateHash(request: {
  sessionId?: string;
  chatId?: string;
  messageId?: string;
  candidates?: string[];
}): string {
  const meaning = request.chatId
    ? ['regenerate', { chat: request.chatId }, request.candidates ?? []]
    : ['regenerate', request.sessionId?.toLowerCase(), request.messageId?.toLowerCase()];
  return createHash('sha256').update(JSON.stringify(meaning)).digest('hex');
}

/** A stored reply as it was answered: JSON keeps everything a ChatReply holds (timestamps are ISO text). */
function storedReply(stored: unknown): ChatReply {
  return stored as ChatReply;
}

/**
 * Idempotency-Key for POST /api/v1/chat, kept in the database so it holds across instances. A key is bound
 * to its user and to the request's fingerprint, and remembered for 24 hours. Its row records the request's
 * progress: `running` (with what it committed so far), `failed` (the model failed before any text: a retry
 * continues with the same user message) or `completed` (the reply, replayed to retries).
 */
@Injectable()
export class ChatIdempotency implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('ChatIdempotency');
  private timer?: NodeJS.Timeout;
  /** A running claim older than this belongs to a request that died (a crashed instance): it may be taken over. */
  private readonly leaseMs: number;

  constructor(
    private readonly db: DatabaseService,
    private readonly keys: IdempotencyKeysRepository,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.leaseMs = config.LLM_TIMEOUT_MS + 30_000;
  }

  onModuleInit(): void {
    this.timer = setInterval(() => void this.purge(), PURGE_INTERVAL_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  /** Forgets every user's expired keys (MAINTENANCE path: a user's own requests only purge their own). */
  async purge(): Promise<number> {
    try {
      return await this.keys.purgeExpired(this.db.maintenance());
    } catch (error) {
      this.logger.warn(`purging expired idempotency keys failed: ${(error as Error).message}`);
      return 0;
    }
  }

  /**
   * Claims `key` for this request, in its own committed transaction so that a concurrent retry sees it.
   * 422 when the key was used with another request body; 409 while the first request is still running.
   */
  claim(auth: AuthContext, key: string, hash: string): Promise<Claim> {
    return this.db.asUser(auth, async (tx) => {
      const running = { state: 'running' as const, started_at: new Date().toISOString() };
      if (await this.keys.insert(tx, auth.userId, key, hash, running)) return { kind: 'new' };
      const row = await this.keys.lock(tx, auth.userId, key);
      if (!row) throw AppError.conflict('This Idempotency-Key is being reset by another request; retry');
      if (row.requestHash !== hash) {
        throw new AppError(
          'unprocessable',
          'This Idempotency-Key was already used with a different request body; use a new key',
        );
      }
      const state = row.state;
      if (state?.state === 'completed') return { kind: 'replay', reply: storedReply(state.reply) };
      const abandoned =
        !state || (state.state === 'running' && Date.now() - Date.parse(state.started_at) > this.leaseMs);
      if (state?.state === 'failed' || abandoned) {
        const prepared = state?.prepared;
        await this.keys.update(tx, auth.userId, key, { ...running, prepared });
        return prepared ? { kind: 'resume', prepared } : { kind: 'new' };
      }
      throw AppError.conflict(
        'A request with this Idempotency-Key is still in progress; retry when it has finished',
      );
    });
  }

  /** Records, in the transaction that commits the user message, what the request has committed. */
  markPrepared(tx: Tx, auth: AuthContext, key: string, prepared: PreparedRef): Promise<void> {
    return this.keys.update(tx, auth.userId, key, {
      state: 'running',
      started_at: new Date().toISOString(),
      prepared,
    });
  }

  /** Records the reply, in the transaction that inserts it. */
  markCompleted(tx: Tx, auth: AuthContext, key: string, reply: ChatReply): Promise<void> {
    return this.keys.update(tx, auth.userId, key, { state: 'completed', reply });
  }

  /** The model failed before any text: a retry with the key continues from the committed user message. */
  markFailed(auth: AuthContext, key: string, prepared: PreparedRef): Promise<void> {
    return this.db.asUser(auth, (tx) =>
      this.keys.update(tx, auth.userId, key, { state: 'failed', prepared }),
    );
  }

  /** The request failed before committing anything new (e.g. 404): forget the claim, or restore `failed`. */
  release(auth: AuthContext, key: string, claim: Claim): Promise<void> {
    return this.db.asUser(auth, (tx) =>
      claim.kind === 'resume'
        ? this.keys.update(tx, auth.userId, key, { state: 'failed', prepared: claim.prepared })
        : this.keys.delete(tx, auth.userId, key),
    );
  }
}
