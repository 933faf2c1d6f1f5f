import { Inject, Injectable } from '@nestjs/common';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { AuthContext } from '../auth/auth-context.js';
import { AppError } from '../common/app-error.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { DatabaseService } from '../database/database.service.js';
import { ProjectsRepository } from '../projects/projects.repository.js';
import { sniffUpload } from './import-source.js';
import { ImportRunner, STALE_AFTER_SECONDS } from './import-runner.js';
import { ImportsRepository, type ImportRow } from './imports.repository.js';

/** Content types an upload may have; anything else is 415. */
const UPLOAD_TYPES = new Set([
  'application/json',
  'application/zip',
  'application/x-zip-compressed',
  'application/octet-stream',
]);
/** Imports one user may have waiting or running on one instance. */
const ACTIVE_PER_USER = 3;

export interface Upload {
  stream: Readable | undefined;
  contentType: string;
}

class TooLarge extends Error {}

/**
 * Imports: the upload is written to a temporary file (streamed, within IMPORT_MAX_BYTES), recognised by its
 * first bytes, recorded as a queued import of the caller's and handed to the ImportRunner; the answer (202)
 * does not wait for it. GET reports the import as the runner records it.
 */
@Injectable()
export class ImportsService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly db: DatabaseService,
    private readonly imports: ImportsRepository,
    private readonly projects: ProjectsRepository,
    private readonly runner: ImportRunner,
  ) {}

  async start(auth: AuthContext, upload: Upload, projectId: string | null): Promise<ImportRow> {
    const mediaType = upload.contentType.split(';')[0].trim().toLowerCase();
    if (!UPLOAD_TYPES.has(mediaType))
      throw new AppError(
        'unsupported_media_type',
        'Upload the export as application/json (conversations.json, a split conversations-NNN.json, or a Parley json export) or application/zip (the ChatGPT export)',
      );
    if (projectId !== null) {
      const member = await this.db.asUser(auth, (tx) => this.projects.isMember(tx, projectId, auth.userId));
      if (!member) throw AppError.notFound('Project');
    }
    if (this.runner.activeFor(auth.userId) >= ACTIVE_PER_USER)
      throw new AppError(
        'rate_limited',
        `${ACTIVE_PER_USER} imports of yours are already waiting or running`,
      );

    const base = this.config.IMPORT_TMP_DIR ?? tmpdir();
    await mkdir(base, { recursive: true });
    const dir = await mkdtemp(join(base, 'parley-import-'));
    const path = join(dir, 'upload');
    try {
      const bytes = await this.spool(upload.stream, path);
      if (bytes === 0)
        throw AppError.validation('The upload is empty', [{ field: 'body', message: 'is empty' }]);
      const kind = await sniffUpload(path);
      if (!kind)
        throw AppError.validation(
          'The upload is not a ChatGPT export (a JSON array of conversations, or the export zip) nor a Parley json export',
          [{ field: 'body', message: 'is not a ChatGPT or Parley export' }],
        );
      const row = await this.db.asUser(auth, (tx) =>
        this.imports.create(tx, {
          userId: auth.userId,
          source: kind.source,
          fileKind: kind.file,
          fileBytes: bytes,
          projectId,
        }),
      );
      this.runner.enqueue({ importId: row.import_id, auth, path, dir, kind, projectId });
      return row;
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      if (error instanceof TooLarge)
        throw new AppError(
          'payload_too_large',
          `The upload is larger than IMPORT_MAX_BYTES (${this.config.IMPORT_MAX_BYTES} bytes)`,
        );
      throw error;
    }
  }

  /** Writes the body to `path`, counting bytes; past IMPORT_MAX_BYTES it stops (TooLarge). */
  private async spool(stream: Readable | undefined, path: string): Promise<number> {
    if (!stream) return 0;
    const limit = this.config.IMPORT_MAX_BYTES;
    let bytes = 0;
    await pipeline(
      stream,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          bytes += chunk.length;
          if (bytes > limit) throw new TooLarge();
          yield chunk;
        }
      },
      createWriteStream(path),
    );
    return bytes;
  }

  /**
   * The caller's import (404 otherwise). One that is still queued or running but whose runner has not been
   * heard from for a minute (the process stopped) is recorded and reported as failed.
   */
  async get(auth: AuthContext, importId: string): Promise<ImportRow> {
    const owned = { userId: auth.userId, importId };
    const row = await this.db.asUser(auth, (tx) => this.imports.find(tx, owned));
    if (!row) throw AppError.notFound('Import');
    const unfinished = row.status === 'queued' || row.status === 'running';
    if (!unfinished || row.heartbeat_age < STALE_AFTER_SECONDS || this.runner.isActive(importId)) return row;
    return this.db.asUser(auth, async (tx) => {
      await this.imports.finish(tx, owned, 'failed', [
        {
          reason:
            'the import was interrupted (the server stopped); conversations written before stay; post the same file again to import the rest',
        },
      ]);
      return (await this.imports.find(tx, owned))!;
    });
  }
}
