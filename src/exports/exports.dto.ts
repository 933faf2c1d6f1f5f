import { ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { defineNamedSchema } from '../common/api-docs.js';
import { IsAnyUuid } from '../common/query-params.js';
import { MESSAGE_ROLES, type MessageRole } from '../messages/messages.sql.js';

export const EXPORT_FORMATS = ['json', 'markdown', 'chatgpt'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export class ExportQueryDto {
  /**
   * `json`: Parley's own format (every message of every branch, importable); `markdown`: the branch on
   * screen, for reading; `chatgpt`: ChatGPT's conversations.json (an array of conversations, every branch).
   */
  @ApiPropertyOptional({ enum: EXPORT_FORMATS, enumName: 'ExportFormat', default: 'json' })
  @IsOptional()
  @IsIn(EXPORT_FORMATS)
  format?: ExportFormat = 'json';
}

export class AccountExportQueryDto extends ExportQueryDto {
  /** Only the sessions of this project. */
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsAnyUuid()
  project_id?: string;
}

// ---------------------------------------------------------------------------------------------------------
// Parley's own format (format=json)
// ---------------------------------------------------------------------------------------------------------

export class ParleyExportMessageDto {
  @ApiProperty({ format: 'uuid' })
  message_id: string;
  /** The message this one answers (null for a first message): the conversation is a tree. */
  @ApiProperty({ format: 'uuid', type: String, nullable: true })
  parent_id: string | null;
  @ApiProperty({ enum: MESSAGE_ROLES, enumName: 'MessageRole' })
  role: MessageRole;
  content: string;
  @ApiProperty({ type: 'object', additionalProperties: true, nullable: true })
  metadata: Record<string, unknown> | null;
  @ApiProperty({ type: String, format: 'date-time' })
  created_at: string;
  @ApiProperty({ type: String, format: 'date-time' })
  updated_at: string;
}

export class ParleyExportSessionDto {
  @ApiProperty({ format: 'uuid' })
  session_id: string;
  @ApiProperty({ format: 'uuid', type: String, nullable: true })
  project_id: string | null;
  @ApiProperty({ type: String, nullable: true })
  title: string | null;
  @ApiProperty({ type: String, format: 'date-time' })
  created_at: string;
  @ApiProperty({ type: String, format: 'date-time' })
  updated_at: string;
  @ApiProperty({ type: String, format: 'date-time' })
  last_message_at: string;
  is_active: boolean;
  /** The end of the branch on screen (null for an empty session). */
  @ApiProperty({ format: 'uuid', type: String, nullable: true })
  current_leaf_id: string | null;
  /** Every message of every branch, oldest first (a parent always before its replies). */
  messages: ParleyExportMessageDto[];
}

export class ParleyExportDto {
  /** Always `parley`. */
  @ApiProperty({ enum: ['parley'] })
  format: 'parley';
  /** Always 1. */
  @ApiProperty({ enum: [1] })
  version: 1;
  @ApiProperty({ type: String, format: 'date-time' })
  exported_at: string;
  sessions: ParleyExportSessionDto[];
}

// ---------------------------------------------------------------------------------------------------------
// ChatGPT's conversations.json (format=chatgpt)
// ---------------------------------------------------------------------------------------------------------

export class ChatGptAuthorDto {
  /** `user`, `assistant` or `system` (ChatGPT also uses `tool`). */
  role: string;
  @ApiProperty({ type: String, nullable: true })
  name: string | null;
  @ApiProperty({ type: 'object', additionalProperties: true })
  metadata: Record<string, unknown>;
}

export class ChatGptContentDto {
  /** Always `text` in Parley's exports. */
  content_type: string;
  /** The text (one part). */
  parts: string[];
}

export class ChatGptMessageMetadataDto {
  /** The model that wrote an assistant message, when known. */
  @ApiPropertyOptional()
  model_slug?: string;
  /** Parley's own metadata of the message (provider, usage, finish reason...), or null. */
  @ApiProperty({ type: 'object', additionalProperties: true, nullable: true })
  parley: Record<string, unknown> | null;
}

export class ChatGptMessageDto {
  /** The message id (the node's id). */
  id: string;
  author: ChatGptAuthorDto;
  /** Seconds since the epoch. */
  @ApiProperty({ type: Number, nullable: true })
  create_time: number | null;
  @ApiProperty({ type: Number, nullable: true })
  update_time: number | null;
  content: ChatGptContentDto;
  status: string;
  @ApiProperty({ type: Boolean, nullable: true })
  end_turn: boolean | null;
  weight: number;
  metadata: ChatGptMessageMetadataDto;
  recipient: string;
}

export class ChatGptNodeDto {
  id: string;
  /** Null for the root node. */
  @ApiProperty({ type: () => ChatGptMessageDto, nullable: true })
  message: ChatGptMessageDto | null;
  /** The parent node's id (null for the root). */
  @ApiProperty({ type: String, nullable: true })
  parent: string | null;
  children: string[];
}

export class ChatGptParleySessionDto {
  @ApiProperty({ format: 'uuid' })
  session_id: string;
  @ApiProperty({ format: 'uuid', type: String, nullable: true })
  project_id: string | null;
  is_active: boolean;
  @ApiProperty({ type: String, format: 'date-time' })
  created_at: string;
  @ApiProperty({ type: String, format: 'date-time' })
  updated_at: string;
  @ApiProperty({ type: String, format: 'date-time' })
  last_message_at: string;
}

export class ChatGptConversationDto {
  /** The conversation id (the Parley session id). */
  id: string;
  @ApiProperty({ format: 'uuid' })
  conversation_id: string;
  @ApiProperty({ type: String, nullable: true })
  title: string | null;
  /** Seconds since the epoch. */
  create_time: number;
  update_time: number;
  /** The node at the end of the branch on screen. */
  current_node: string;
  /** Every node of the tree by id: a root node whose message is null, then the messages. */
  @ApiProperty({ type: 'object', additionalProperties: { $ref: getSchemaPath(ChatGptNodeDto) } })
  mapping: Record<string, ChatGptNodeDto>;
  @ApiProperty({ type: String, nullable: true })
  default_model_slug: string | null;
  is_archived: boolean;
  /** Parley's own fields. */
  parley: ChatGptParleySessionDto;
}

/** The JSON body of an export: Parley's own format (format=json) or conversations.json (format=chatgpt). */
export const EXPORT_DOCUMENT_SCHEMA = defineNamedSchema('ExportDocument', {
  oneOf: [
    { $ref: getSchemaPath(ParleyExportDto) },
    { type: 'array', items: { $ref: getSchemaPath(ChatGptConversationDto) } },
  ],
});

export const EXPORT_MODELS = [ParleyExportDto, ChatGptConversationDto, ChatGptNodeDto];
