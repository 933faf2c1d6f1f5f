import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional } from 'class-validator';
import { IsAnyUuid } from '../common/query-params.js';
import { IMPORT_STATUSES, type ImportRow, type ImportStatus } from './imports.sql.js';

export class CreateImportQueryDto {
  /** Put the imported sessions in this project (the caller must be a member). Omitted: a new project. */
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsAnyUuid()
  project_id?: string;
}

export class ImportSkipDto {
  /** The conversation's id in the file (null when it has none). */
  @ApiProperty({ type: String, nullable: true })
  conversation_id: string | null;
  reason: string;
}

export class ImportErrorDto {
  reason: string;
}

export class ImportResponseDto {
  @ApiProperty({ format: 'uuid' })
  import_id: string;
  /** `queued`, `running`, then `succeeded` or `failed` (never `succeeded` unless every conversation was read). */
  @ApiProperty({ enum: IMPORT_STATUSES, enumName: 'ImportStatus' })
  status: ImportStatus;
  /** What the file is: a ChatGPT export or Parley's own json export. */
  @ApiProperty({ enum: ['chatgpt', 'parley'], enumName: 'ImportSource' })
  source: 'chatgpt' | 'parley';
  /** The project the sessions go to (null until the import creates its own). */
  @ApiProperty({ format: 'uuid', type: String, nullable: true })
  project_id: string | null;
  /** Conversations read from the file so far. */
  conversations_seen: number;
  sessions_created: number;
  messages_created: number;
  /** Conversations not imported (all of them, listed or not). */
  skipped_count: number;
  /** Why conversations were not imported: the first 1,000. */
  skipped: ImportSkipDto[];
  /** Why the import failed (empty unless status is `failed`). */
  errors: ImportErrorDto[];
  /** The sessions this import created. */
  @ApiProperty({ type: [String], format: 'uuid' })
  session_ids: string[];
  @ApiProperty({ type: String, format: 'date-time' })
  created_at: string;
  @ApiProperty({ type: String, format: 'date-time' })
  updated_at: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  finished_at: string | null;
}

export function toImportResponse(row: ImportRow): ImportResponseDto {
  return {
    import_id: row.import_id,
    status: row.status,
    source: row.source,
    project_id: row.project_id,
    conversations_seen: row.conversations_seen,
    sessions_created: row.sessions_created,
    messages_created: row.messages_created,
    skipped_count: row.skipped_count,
    skipped: row.skipped,
    errors: row.errors,
    session_ids: row.session_ids,
    created_at: row.created_at,
    updated_at: row.updated_at,
    finished_at: row.finished_at,
  };
}
