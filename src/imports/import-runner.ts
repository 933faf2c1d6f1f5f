import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { AuthContext } from '../auth/auth-context.js';
import { sqlStateOf } from '../common/sql-errors.js';
import { isUuid } from '../common/uuid.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { DatabaseService } from '../database/database.service.js';
import { MessagesRepository } from '../messages/messages.repository.js';
import { ProjectsRepository } from '../projects/projects.repository.js';
import { SessionsRepository } from '../sessions/sessions.repository.js';
import {
  planChatGptConversation,
  planParleySession,
  type ConversationPlan,
  type SkippedConversation,
} from './conversation-plan.js';
import { ImportFileError, UploadReader, type UploadKind } from './import-source.js';
import { ImportsRepository, type OwnedImport } from './imports.repository.js';

/** An upload waiting to be imported: the import row exists ('queued'), the file is on disk. */
export interface ImportJob {
  importId: string;
  auth: AuthContext;
  /** The uploaded file, and the temporary directory holding it (removed when the job ends). */
  path: string;
  dir: string;
  kind: UploadKind;
  /** The project named by the caller; null: the import creates one for its first session. */
  projectId: string | null;
}

/** The largest conversation (its JSON text) an import assembles in memory. */
export const MAX_CONVERSATION_BYTES = 32 * 1024 * 1024;
/** Messages per INSERT statement. */
const MESSAGES_PER_STATEMENT = 1000;
/** How often a running import shows it is alive; an import silent for STALE_AFTER_SECONDS was interrupted. */
const HEARTBEAT_MS = 10_000;
export const STALE_AFTER_SECONDS = 60;
/** Skipped conversations are recorded in groups (and at the end). */
const PROGRESS_EVERY = 200;

class Interrupted extends Error {}

/**
 * Runs imports in the background, IMPORT_CONCURRENCY at a time per instance (the rest wait, 'queued').
 *
 * An import reads its file twice (import-source.ts): first through, writing nothing, so a broken or
 * incomplete file fails with the reason before any session exists; then conversation by conversation, each
 * written in one transaction with its session, its messages, its `imported_conversations` row (the
 * idempotency key) and the import's counters, so what GET /imports/{id} reports is exactly what is
 * committed. A failure part-way (the database, a shutdown, the process dying) leaves the conversations
 * already written and reports the import as failed, never succeeded; posting the same file again resumes: the
 * conversations already imported are skipped as such.
 */
@Injectable()
export class ImportRunner implements OnApplicationShutdown {
  private readonly logger = new Logger('Import');
  private readonly waiting: ImportJob[] = [];
  private readonly running = new Map<string, Promise<void>>();
  private readonly stop = new AbortController();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly db: DatabaseService,
    private readonly imports: ImportsRepository,
    private readonly sessions: SessionsRepository,
    private readonly messages: MessagesRepository,
    private readonly projects: ProjectsRepository,
  ) {}

  /** Imports of this user waiting or running on this instance. */
  activeFor(userId: string): number {
    const waiting = this.waiting.filter((job) => job.auth.userId === userId).length;
    return waiting + [...this.running.keys()].filter((key) => key.startsWith(`${userId}:`)).length;
  }

  /** Whether this instance is working on the import (so its heartbeat is kept). */
  isActive(importId: string): boolean {
    return (
      this.waiting.some((job) => job.importId === importId) ||
      [...this.running.keys()].some((key) => key.endsWith(`:${importId}`))
    );
  }

  enqueue(job: ImportJob): void {
    this.waiting.push(job);
    this.next();
  }

  private next(): void {
    while (this.running.size < this.config.IMPORT_CONCURRENCY && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      const key = `${job.auth.userId}:${job.importId}`;
      const done = this.run(job).finally(() => {
        this.running.delete(key);
        this.next();
      });
      this.running.set(key, done);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.stop.abort();
    const waiting = this.waiting.splice(0);
    await Promise.allSettled([
      ...this.running.values(),
      ...waiting.map(async (job) => {
        await this.fail(job, 'the server stopped before the import started; post the file again').catch(
          () => undefined,
        );
        await rm(job.dir, { recursive: true, force: true });
      }),
    ]);
  }

  private async run(job: ImportJob): Promise<void> {
    const owned: OwnedImport = { userId: job.auth.userId, importId: job.importId };
    const beat = setInterval(() => {
      void this.db.asUser(job.auth, (tx) => this.imports.heartbeat(tx, owned)).catch(() => undefined);
    }, HEARTBEAT_MS);
    beat.unref();
    let reader: UploadReader | undefined;
    const started = performance.now();
    try {
      await this.db.asUser(job.auth, (tx) => this.imports.setStatus(tx, owned, 'running'));
      reader = await UploadReader.open(job.path, job.kind, 16 * this.config.IMPORT_MAX_BYTES);
      await reader.check(MAX_CONVERSATION_BYTES);
      const counts = await this.write(job, reader);
      await this.db.asUser(job.auth, (tx) => this.imports.finish(tx, owned, 'succeeded', []));
      this.logger.log(
        `import ${job.importId}: ${counts.created} sessions, ${counts.skipped} skipped, in ${Math.round(performance.now() - started)} ms`,
      );
    } catch (error) {
      const reason = this.reasonOf(error);
      this.logger.warn(`import ${job.importId} failed: ${reason}`);
      await this.fail(job, reason).catch((failError: Error) =>
        this.logger.error(`import ${job.importId}: could not record the failure: ${failError.message}`),
      );
    } finally {
      clearInterval(beat);
      reader?.dispose();
      await rm(job.dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  private fail(job: ImportJob, reason: string): Promise<void> {
    return this.db.asUser(job.auth, (tx) =>
      this.imports.finish(tx, { userId: job.auth.userId, importId: job.importId }, 'failed', [{ reason }]),
    );
  }

  /** What the caller reads about a failure: the file's problem as it is; anything else without internals. */
  private reasonOf(error: unknown): string {
    if (error instanceof ImportFileError) return error.message;
    const resume = 'conversations written before it stay; post the same file again to import the rest';
    if (error instanceof Interrupted) return `the server stopped during the import; ${resume}`;
    const state = sqlStateOf(error);
    this.logger.warn(`import error: ${(error as Error).message}`);
    return `the import stopped on a ${state ? `database error (SQLSTATE ${state})` : 'server error'}; ${resume}`;
  }

  private async write(job: ImportJob, reader: UploadReader): Promise<{ created: number; skipped: number }> {
    const owned: OwnedImport = { userId: job.auth.userId, importId: job.importId };
    let seen = 0;
    let created = 0;
    let skippedTotal = 0;
    let skipped: SkippedConversation[] = [];
    const flush = async () => {
      if (seen === 0 && skipped.length === 0) return;
      const [n, list] = [seen, skipped];
      await this.db.asUser(job.auth, (tx) => this.imports.addProgress(tx, owned, n, list));
      seen = 0;
      skipped = [];
    };
    const plan =
      job.kind.source === 'parley'
        ? (value: unknown) => planParleySession(value)
        : (value: unknown) => planChatGptConversation(value);
    for await (const { value } of reader.conversations()) {
      if (this.stop.signal.aborted) throw new Interrupted();
      seen++;
      const result = plan(value);
      const outcome = 'skip' in result ? result.skip : await this.writeConversation(job, result.plan);
      if (outcome === 'created') created++;
      else {
        skipped.push(outcome);
        skippedTotal++;
      }
      if (seen >= PROGRESS_EVERY || skipped.length >= PROGRESS_EVERY) await flush();
    }
    await flush();
    return { created, skipped: skippedTotal };
  }

  /**
   * One conversation in one transaction: skipped when this user imported it before (or it is one of their
   * sessions already: a Parley export imported into the account it came from), else its session, messages,
   * current branch and idempotency row, with the import's counters. A conversation the database refuses for
   * its data (SQLSTATE classes 22 and 23) is skipped with the reason; any other failure stops the import.
   */
  private async writeConversation(
    job: ImportJob,
    plan: ConversationPlan,
  ): Promise<'created' | SkippedConversation> {
    const owned: OwnedImport = { userId: job.auth.userId, importId: job.importId };
    const userId = job.auth.userId;
    const skip = (reason: string): SkippedConversation => ({ conversation_id: plan.conversationId, reason });
    try {
      const outcome = await this.db.asUser(
        job.auth,
        async (tx): Promise<{ skipped: SkippedConversation } | { projectId: string }> => {
          const earlier = await this.imports.importedSession(tx, userId, plan.conversationId);
          if (earlier) return { skipped: skip(`already imported (session ${earlier})`) };
          if (
            isUuid(plan.conversationId) &&
            (await this.sessions.findById(tx, plan.conversationId.toLowerCase()))
          )
            return { skipped: skip('already a session of yours') };
          let projectId = job.projectId;
          if (!projectId) {
            const title = `${job.kind.source === 'parley' ? 'Parley' : 'ChatGPT'} import ${new Date().toISOString().slice(0, 10)}`;
            projectId = (await this.projects.createForUser(tx, userId, title)).projectId;
            await this.imports.setProject(tx, owned, projectId);
          }
          const sessionId = await this.sessions.createImported(tx, {
            userId,
            projectId,
            title: plan.title,
            createdAt: plan.createdAt,
            isActive: plan.isActive,
          });
          for (let i = 0; i < plan.messages.length; i += MESSAGES_PER_STATEMENT)
            await this.messages.insertTree(
              tx,
              sessionId,
              plan.messages.slice(i, i + MESSAGES_PER_STATEMENT).map((m) => ({
                messageId: m.id,
                parentId: m.parentId,
                role: m.role,
                content: m.content,
                metadata: m.metadata,
                createdAt: m.createdAt,
              })),
            );
          if (plan.leafId) await this.sessions.setCurrentLeaf(tx, { userId, sessionId }, plan.leafId);
          await this.imports.recordConversation(
            tx,
            owned,
            plan.conversationId,
            sessionId,
            plan.messages.length,
          );
          return { projectId };
        },
      );
      if ('skipped' in outcome) return outcome.skipped;
      // The project exists now that this committed: later conversations go to it.
      job.projectId = outcome.projectId;
      return 'created';
    } catch (error) {
      const state = sqlStateOf(error);
      // The same conversation written at the same moment by another import of this user's.
      if (state === '23505') return skip('already imported (by an import running at the same time)');
      if (state?.startsWith('22') || state?.startsWith('23'))
        return skip(`the database refused its data (SQLSTATE ${state})`);
      throw error;
    }
  }
}

export const newImportDirName = (): string => `parley-import-${randomUUID()}`;
