import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsInt, IsOptional, IsString, Max, MaxLength, Min, ValidateIf } from 'class-validator';
import { IsAnyUuid, QueryBoolean, QueryInt } from '../common/query-params.js';
import { TrimmedText } from '../common/validation.js';
import type { SessionRecord } from './sessions.repository.js';

export class CreateSessionDto {
  /** The project to put the session in (the caller must be a member). Omitted: a new project of the caller's. */
  @ApiPropertyOptional({ format: 'uuid' })
  // May be omitted, but null is not a project (it reached the service as an id: a 500).
  @ValidateIf((_object, value) => value !== undefined)
  @IsAnyUuid()
  project_id?: string;

  /** Trimmed; 1 to 200 characters. Omitted or null: untitled. */
  @IsOptional()
  @TrimmedText({ minLength: 1, maxLength: 200 })
  title?: string | null;

  /** A temporary session: deleted TEMP_SESSION_RETENTION_HOURS after its creation (unless pinned). */
  @ValidateIf((_object, value) => value !== undefined)
  @IsBoolean()
  temporary?: boolean;
}

export class ListSessionsQueryDto {
  /** Sessions per page. */
  @IsOptional()
  @QueryInt()
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number = 10;

  /** `next_cursor` of the previous page. */
  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;

  /** Only the sessions of this project. */
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsAnyUuid()
  project_id?: string;

  /** Only active (`true`) or only archived (`false`) sessions. Omitted: both. */
  @IsOptional()
  @QueryBoolean()
  @IsBoolean()
  is_active?: boolean;
}

export class UpdateSessionTitleDto {
  /** Trimmed; 1 to 200 characters. */
  @TrimmedText({ minLength: 1, maxLength: 200 })
  title: string;
}

/** Fields to change; omitted fields stay as they are. */
export class UpdateSessionDto {
  /** Trimmed; 1 to 200 characters; null clears it. */
  @IsOptional()
  @TrimmedText({ minLength: 1, maxLength: 200 })
  title?: string | null;

  /** false archives the session, true brings it back. */
  @ValidateIf((_object, value) => value !== undefined)
  @IsBoolean()
  is_active?: boolean;

  /** true lists the session first and exempts it from retention; false unpins it. */
  @ValidateIf((_object, value) => value !== undefined)
  @IsBoolean()
  pinned?: boolean;
}

export class SessionResponseDto {
  @ApiProperty({ format: 'uuid', example: '0b6f3c1a-9d2e-4f7b-8a61-5c2d9e4f1a37' })
  session_id: string;
  @ApiProperty({ format: 'uuid', type: String, nullable: true })
  project_id: string | null;
  title: string | null;
  /** false once archived. */
  is_active: boolean;
  /** Messages in the session (kept on the session row, never counted on read). */
  message_count: number;
  /** The first 200 characters of the newest message; null when there are none. */
  last_message_preview: string | null;
  /** Listed first; never expires. */
  pinned: boolean;
  /** Expires TEMP_SESSION_RETENTION_HOURS after created_at unless pinned (docs/architecture.md). */
  temporary: boolean;
  /** When the newest message was written (the creation time while the session is empty). */
  @ApiProperty({ type: String, format: 'date-time' })
  last_message_at: string;
  @ApiProperty({ type: String, format: 'date-time' })
  created_at: string;
  @ApiProperty({ type: String, format: 'date-time' })
  updated_at: string;
}

export class SessionListResponseDto {
  /** Pinned sessions first, then most recent `last_message_at` first. */
  data: SessionResponseDto[];
  /** Pass as `cursor` to get the next page; null on the last page. Opaque. */
  next_cursor: string | null;
}

export function toSessionResponse(session: SessionRecord): SessionResponseDto {
  return {
    session_id: session.sessionId,
    project_id: session.projectId,
    title: session.title,
    is_active: session.isActive,
    message_count: session.messageCount,
    last_message_preview: session.lastMessagePreview,
    pinned: session.pinned,
    temporary: session.temporary,
    last_message_at: session.lastMessageAt,
    created_at: session.createdAt,
    updated_at: session.updatedAt,
  };
}

/** Which branch of the session's tree to show and continue. */
export class SwitchBranchDto {
  /**
   * A message of the session, typically one of a message's `sibling_ids`: the current branch becomes the
   * newest branch through it (it ends at the newest message under it, or at the message itself when nothing
   * answers it yet).
   */
  @ApiProperty({ format: 'uuid' })
  @IsAnyUuid()
  message_id: string;
}
