import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsISO8601,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { IsAnyUuid, QueryBoolean, QueryInt } from '../common/query-params.js';
import { TrimmedText } from '../common/validation.js';
import { MESSAGE_ROLES, type MessageRole } from '../messages/messages.sql.js';
import type { SearchHit } from './search.sql.js';

export class SearchQueryDto {
  /**
   * Words to find, in web-search syntax: words (all must match), "a quoted phrase", `or` between
   * alternatives, `-word` to exclude. At least one word that is not excluded.
   */
  @TrimmedText({ minLength: 1, maxLength: 500 })
  q: string;

  /** Only sessions of this project. */
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsAnyUuid()
  project_id?: string;

  /** Only this session. */
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsAnyUuid()
  session_id?: string;

  /** Only messages of this role (session titles are then left out). */
  @ApiPropertyOptional({ enum: MESSAGE_ROLES, enumName: 'MessageRole' })
  @IsOptional()
  @IsIn(MESSAGE_ROLES)
  role?: MessageRole;

  /** Only hits created at or after this instant. */
  @ApiPropertyOptional({ type: String, format: 'date-time' })
  @IsOptional()
  @IsISO8601({ strict: true, strictSeparator: true })
  from?: string;

  /** Only hits created before this instant. */
  @ApiPropertyOptional({ type: String, format: 'date-time' })
  @IsOptional()
  @IsISO8601({ strict: true, strictSeparator: true })
  to?: string;

  /** Search archived sessions too. */
  @IsOptional()
  @QueryBoolean()
  @IsBoolean()
  include_archived?: boolean = false;

  /** Hits per page. */
  @IsOptional()
  @QueryInt()
  @IsInt()
  @Min(1)
  @Max(50)
  limit?: number = 20;

  /** `next_cursor` of the previous page (repeat the same q and filters). */
  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;
}

export class SearchHitDto {
  /** The message that matched; null when the hit is the session's title. */
  @ApiProperty({ format: 'uuid', type: String, nullable: true })
  message_id: string | null;
  @ApiProperty({ format: 'uuid' })
  session_id: string;
  session_title: string | null;
  /** The message's role (user, assistant or system); null for a title hit. */
  @ApiProperty({ type: String, nullable: true })
  role: string | null;
  /** When the message was written (a title hit: when the session was created). */
  @ApiProperty({ type: String, format: 'date-time' })
  created_at: string;
  /**
   * An excerpt (the whole title for a title hit) as HTML-escaped text in which the matched words are wrapped
   * in `<mark>` and `</mark>`; nothing else in it is markup (docs/search.md).
   */
  snippet: string;
  /** Relevance (higher first; comparable within one search only). */
  rank: number;
}

export class SearchResponseDto {
  /** Best first; ties newest first. */
  data: SearchHitDto[];
  /** Pass as `cursor` (with the same q and filters) for the next page; null on the last page. Opaque. */
  next_cursor: string | null;
}

export function toSearchHitResponse(hit: SearchHit): SearchHitDto {
  return {
    message_id: hit.messageId,
    session_id: hit.sessionId,
    session_title: hit.sessionTitle,
    role: hit.role,
    created_at: hit.createdAt,
    snippet: hit.snippet,
    rank: hit.rank,
  };
}
