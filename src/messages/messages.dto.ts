import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsInt, IsOptional, Max, Min } from 'class-validator';
import { IsAnyUuid, QueryBoolean, QueryInt } from '../common/query-params.js';
import { MESSAGE_ROLES, type MessageRecord, type MessageRole } from './messages.repository.js';

/**
 * Which page of a session's messages. Use at most one of `offset` (> 0), `before`, `after` and `latest`.
 * Every page is oldest first.
 */
export class ListMessagesQueryDto {
  /** Messages per page. */
  @IsOptional()
  @QueryInt()
  @IsInt()
  @Min(1)
  @Max(200)
  limit?: number = 50;

  /** Skip this many of the oldest messages. Costs grow with the offset: prefer `before`/`after` for deep history. */
  @IsOptional()
  @QueryInt()
  @IsInt()
  @Min(0)
  @Max(2147483647)
  offset?: number = 0;

  /** A message id of this session: the page of messages just older than it (e.g. a page's `prev_before`). */
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsAnyUuid()
  before?: string;

  /** A message id of this session: the page of messages just newer than it (e.g. a page's `next_after`). */
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsAnyUuid()
  after?: string;

  /** `true`: the newest page (still oldest first inside). A chat UI loads this first, then pages back with `before`. */
  @IsOptional()
  @QueryBoolean()
  @IsBoolean()
  latest?: boolean = false;
}

export class MessageResponseDto {
  @ApiProperty({ format: 'uuid', example: '5a0f7a52-51b8-4c6f-a3f5-4a6f2b0e8c11' })
  message_id: string;
  @ApiProperty({ format: 'uuid' })
  session_id: string;
  /** The legacy turn the message was imported from, if any. */
  @ApiProperty({ format: 'uuid', type: String, nullable: true })
  turn_id: string | null;
  @ApiProperty({ enum: MESSAGE_ROLES, enumName: 'MessageRole' })
  role: MessageRole;
  content: string;
  /** Free-form JSON object (for example the model and token usage of an assistant reply), or null. */
  @ApiProperty({ type: 'object', additionalProperties: true, nullable: true })
  metadata: Record<string, unknown> | null;
  @ApiProperty({ type: String, format: 'date-time' })
  created_at: string;
  @ApiProperty({ type: String, format: 'date-time' })
  updated_at: string;
}

export class MessagePageResponseDto {
  /** Oldest first. */
  data: MessageResponseDto[];
  /** Messages in the whole session. */
  total: number;
  /**
   * More messages lie beyond this page in the direction it was read: newer ones for `offset` and `after`,
   * older ones for `before` and `latest`.
   */
  has_more: boolean;
  /** Pass as `before` for the page of older messages; null when none are older (or the page is empty). */
  prev_before: string | null;
  /** Pass as `after` for newer messages; null when none were newer when this page was read (or it is empty). */
  next_after: string | null;
}

export function toMessageResponse(message: MessageRecord): MessageResponseDto {
  return {
    message_id: message.messageId,
    session_id: message.sessionId,
    turn_id: message.turnId,
    role: message.role,
    content: message.content,
    metadata: message.metadata,
    created_at: message.createdAt,
    updated_at: message.updatedAt,
  };
}
