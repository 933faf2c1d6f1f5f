import { Injectable, Logger } from '@nestjs/common';
import type { AuthContext } from '../auth/auth-context.js';
import { AppError } from '../common/app-error.js';
import { DatabaseService } from '../database/database.service.js';
import { exportWriter, type ExportWriter } from './export-formats.js';
import type { ExportFormat } from './exports.dto.js';
import {
  ExportsRepository,
  type ExportMessageRow,
  type ExportPosition,
  type ExportSessionRow,
} from './exports.repository.js';
import { EXPORT_MESSAGE_PAGE, EXPORT_SESSION_PAGE } from './exports.sql.js';

/** An export ready to stream: its content type and file name, and its text, produced as it is read. */
export interface ExportStream {
  contentType: string;
  fileName: string;
  chunks: AsyncIterable<string>;
}

/**
 * Exports of one session or of the caller's whole account. The text is produced by a generator that reads
 * one page (a short RLS transaction of its own), writes it and waits for the consumer before reading the
 * next: the HTTP response pulls it only as fast as the client takes the bytes, so memory holds a page or two
 * whatever the account's size, and no connection or transaction stays open while the client is slow.
 *
 * Pages are separate transactions: a message written while an export runs may or may not be in it (it is
 * never half in it, and nothing is repeated: every read continues after a fixed position).
 */
@Injectable()
export class ExportsService {
  private readonly logger = new Logger('Export');

  constructor(
    private readonly db: DatabaseService,
    private readonly exports: ExportsRepository,
  ) {}

  /** One session of the caller's (404 otherwise, checked before anything is sent). */
  async session(auth: AuthContext, sessionId: string, format: ExportFormat): Promise<ExportStream> {
    const session = await this.db.asUser(auth, (tx) => this.exports.session(tx, auth.userId, sessionId));
    if (!session) throw AppError.notFound('Session');
    const writer = exportWriter(format, new Date().toISOString());
    return this.stream(auth, writer, this.oneSession(session));
  }

  /**
   * Every session of the caller's, or those of one project (none when the caller has none there). The first
   * page is read before anything is sent, so an unknown caller or a database failure is still an error answer.
   */
  async account(auth: AuthContext, format: ExportFormat, projectId: string | null): Promise<ExportStream> {
    const first = await this.sessionPage(auth, projectId, null);
    const writer = exportWriter(format, new Date().toISOString());
    return this.stream(auth, writer, this.allSessions(auth, projectId, first));
  }

  private stream(
    auth: AuthContext,
    writer: ExportWriter,
    sessions: AsyncIterable<ExportSessionRow>,
  ): ExportStream {
    const chunks = this.write(auth, writer, sessions);
    return { contentType: writer.contentType, fileName: writer.fileName, chunks };
  }

  private async *oneSession(session: ExportSessionRow): AsyncGenerator<ExportSessionRow> {
    yield session;
  }

  private sessionPage(
    auth: AuthContext,
    projectId: string | null,
    after: ExportPosition | null,
  ): Promise<ExportSessionRow[]> {
    return this.db.asUser(auth, (tx) =>
      this.exports.sessions(tx, auth.userId, projectId, after, EXPORT_SESSION_PAGE),
    );
  }

  private async *allSessions(
    auth: AuthContext,
    projectId: string | null,
    first: ExportSessionRow[],
  ): AsyncGenerator<ExportSessionRow> {
    for (let page = first; ;) {
      yield* page;
      const last = page.at(-1);
      if (page.length < EXPORT_SESSION_PAGE || !last) return;
      page = await this.sessionPage(auth, projectId, { at: last.cursor_at, key: last.session_id });
    }
  }

  private async *write(
    auth: AuthContext,
    writer: ExportWriter,
    sessions: AsyncIterable<ExportSessionRow>,
  ): AsyncGenerator<string> {
    const started = performance.now();
    let count = 0;
    try {
      yield writer.begin();
      for await (const session of sessions) {
        yield writer.sessionStart(session, count++);
        yield* writer.reads === 'tree'
          ? this.tree(auth, writer, session)
          : this.branch(auth, writer, session);
      }
      yield writer.end();
      this.logger.log(`export of ${count} sessions done in ${Math.round(performance.now() - started)} ms`);
    } catch (error) {
      // Headers are gone: the response is cut short (the client sees an incomplete body), and the log says why.
      this.logger.warn(`export failed after ${count} sessions: ${(error as Error).message}`);
      throw error;
    }
  }

  /** Every message of every branch, parents before their replies, then the session's closing. */
  private async *tree(
    auth: AuthContext,
    writer: ExportWriter,
    session: ExportSessionRow,
  ): AsyncGenerator<string> {
    let after: ExportPosition | null = null;
    let first = true;
    for (;;) {
      const position: ExportPosition | null = after;
      const page: ExportMessageRow[] = await this.db.asUser(auth, (tx) =>
        this.exports.messages(tx, auth.userId, session.session_id, position, EXPORT_MESSAGE_PAGE),
      );
      if (page.length > 0) yield writer.treeMessages(page, first);
      first = false;
      const last = page.at(-1);
      if (page.length < EXPORT_MESSAGE_PAGE || !last) break;
      after = { at: last.cursor_at, key: last.seq };
    }
    const roots = await this.db.asUser(auth, (tx) => this.exports.roots(tx, auth.userId, session.session_id));
    yield writer.sessionEnd(session, roots);
  }

  /** The branch on screen (root to current leaf), by depth. */
  private async *branch(
    auth: AuthContext,
    writer: ExportWriter,
    session: ExportSessionRow,
  ): AsyncGenerator<string> {
    for (let depth = 0; ; depth += EXPORT_MESSAGE_PAGE) {
      const from = depth;
      const page = await this.db.asUser(auth, (tx) =>
        this.exports.branch(tx, session.session_id, from, EXPORT_MESSAGE_PAGE),
      );
      if (page.length > 0) yield writer.branchMessages(page, depth === 0);
      if (page.length < EXPORT_MESSAGE_PAGE) break;
    }
    yield writer.sessionEnd(session, []);
  }
}
