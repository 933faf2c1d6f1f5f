import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';
import { IsAnyUuid, QueryBoolean, QueryInt } from '../common/query-params.js';
import {
  MESSAGE_ROLES,
  type MessageRecord,
  type MessageRole,
  type PagedMessageRecord,
} from './messages.repository.js';

export const MESSAGE_BRANCHES = ['current', 'all'] as const;

/**
 * Which page of a session's messages. Use at most one of `offset` (> 0), `before`, `after` and `latest`.
 * Every page is oldest first.
 */
export class ListMessagesQueryDto {
  /**
   * `current` (the default): the session's current branch, from its first message down to its current leaf,
   * in conversation order (what the model reads). `all`: every message of every branch, in (created_at, seq)
   * order, for drawing the whole tree.
   */
  @ApiPropertyOptional({ enum: MESSAGE_BRANCHES, default: 'current' })
  @IsOptional()
  @IsIn(MESSAGE_BRANCHES)
  branch?: (typeof MESSAGE_BRANCHES)[number] = 'current';

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

  /**
   * A message id of this session: the page of messages just older than it (e.g. a page's `prev_before`). With
   * `branch=current`: the messages above it on its own branch (any message of the session).
   */
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsAnyUuid()
  before?: string;

  /**
   * A message id of this session: the page of messages just newer than it (e.g. a page's `next_after`). With
   * `branch=current` it must be on the current branch.
   */
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
  /** The message this one answers or follows; null for a first message. */
  @ApiProperty({ format: 'uuid', type: String, nullable: true })
  parent_id: string | null;
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

/** A message of a page, with its siblings: what a client needs to draw "‹ 2/3 ›" and switch branches. */
export class PagedMessageResponseDto extends MessageResponseDto {
  /**
   * The messages with the same parent (for a first message: the session's first messages), this one
   * included, oldest first: other versions of an edited question or regenerated answer. Its position in the
   * list and the list's length make "‹ 2/3 ›"; `PUT …/current-leaf` with a sibling's id switches to its branch.
   */
  @ApiProperty({ type: [String], format: 'uuid' })
  sibling_ids: string[];
}

export class MessagePageResponseDto {
  /** Oldest first (on a branch: in conversation order). */
  data: PagedMessageResponseDto[];
  /**
   * How many messages the paged sequence holds: with `branch=current` the current branch's length (the
   * session's `message_count`), with `branch=all` every message of the session.
   */
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
    // A reply stored under an Idempotency-Key before messages had parents has none recorded.
    parent_id: message.parentId ?? null,
    role: message.role,
    content: message.content,
    metadata: message.metadata,
    created_at: message.createdAt,
    updated_at: message.updatedAt,
  };
}

export function toPagedMessageResponse(message: PagedMessageRecord): PagedMessageResponseDto {
  return { ...toMessageResponse(message), sibling_ids: message.siblingIds };
}
