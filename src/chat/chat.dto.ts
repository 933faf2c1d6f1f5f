import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsObject,
  IsOptional,
  IsString,
  MaxLength,
  MinLength,
  ValidateIf,
} from 'class-validator';
import { IsAnyUuid, QueryBoolean } from '../common/query-params.js';
import { Trimmed } from '../common/validation.js';
import { isUuid } from '../common/uuid.js';
import { MessageResponseDto, toMessageResponse } from '../messages/messages.dto.js';
import { SessionResponseDto, toSessionResponse } from '../sessions/sessions.dto.js';
import { AppError } from '../common/app-error.js';
import type { ChatReply, ChatRequest, ChatStart, RegenerateRequest } from './chat.types.js';

/** A part of a UI message (the AI SDK's): only `text` parts are read. */
export class ChatUiMessagePartDto {
  /** `text`, or any other part type (ignored). */
  type: string;
  /** The text of a `text` part. */
  text?: string;
}

/** A message of the AI SDK's `useChat` (UIMessage), as its DefaultChatTransport sends it. */
export class ChatUiMessageDto {
  /** The client's id, or the saved message's id (the stream's `start` part gives replies theirs). */
  id: string;
  @ApiProperty({ enum: ['system', 'user', 'assistant'] })
  role: 'system' | 'user' | 'assistant';
  parts: ChatUiMessagePartDto[];
}

export const CHAT_TRIGGERS = ['submit-message', 'regenerate-message'] as const;

/**
 * Either `{text, session_id?, project_id?, parent_message_id?}`, or the body the AI SDK's DefaultChatTransport
 * sends (`useChat` as-is): `{id, messages, trigger, messageId}`.
 */
export class ChatRequestDto {
  /** The user's message. Trimmed; 1 to 32,000 characters. Required unless `messages` is sent. */
  @ApiPropertyOptional({ type: String, minLength: 1, maxLength: 32000 })
  @ValidateIf((object: ChatRequestDto) => object.messages === undefined || object.text !== undefined)
  @MaxLength(32000)
  @MinLength(1)
  @IsString()
  @Trimmed()
  text?: string;

  /**
   * useChat: the chat's id. The caller's session with that id when it is one, otherwise the client's own id
   * for the chat, kept per user on the session (created on first use).
   */
  @ApiPropertyOptional({ type: String, minLength: 1, maxLength: 200 })
  @ValidateIf((object: ChatRequestDto) => object.messages !== undefined || object.id !== undefined)
  @MaxLength(200)
  @MinLength(1)
  @IsString()
  id?: string;

  /**
   * useChat: the conversation as the client holds it. The text of the last user message is the new message;
   * the message before it names where it goes in the tree (a saved message's id: under it, i.e. an edit when
   * it is not the current leaf; first in the list: a new first message); other messages are not read.
   */
  @ApiPropertyOptional({ type: [ChatUiMessageDto] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100000)
  @IsObject({ each: true })
  messages?: ChatUiMessageDto[];

  /** useChat: `submit-message` (default) or `regenerate-message` (a new reply to `messageId`). */
  @ApiPropertyOptional({ enum: CHAT_TRIGGERS })
  @IsOptional()
  @IsIn(CHAT_TRIGGERS)
  trigger?: (typeof CHAT_TRIGGERS)[number];

  /** useChat: with `regenerate-message`, the message to regenerate (the last one when absent). */
  @ApiPropertyOptional({ type: String, maxLength: 200 })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  messageId?: string;

  /** Continue this session (it must be the caller's). */
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsAnyUuid()
  session_id?: string;

  /**
   * Without session_id: start a new session in this project (the caller must be a member). With session_id:
   * must be that session's project. Both omitted: a new project and session are created.
   */
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsAnyUuid()
  project_id?: string;

  /**
   * Edit: the new message goes under this message of the caller's (instead of the current leaf), i.e. beside
   * the message being edited (pass that message's `parent_id`), in its session (session_id may be omitted; if
   * given, the message must be one of that session's); `null` (with session_id) makes it a new first message
   * (editing the first question). It becomes the current branch; nothing is deleted.
   */
  @ApiPropertyOptional({ format: 'uuid', type: String, nullable: true })
  @ValidateIf((_object, value) => value !== undefined && value !== null)
  @IsAnyUuid()
  parent_message_id?: string | null;

  /**
   * A new session is temporary: deleted TEMP_SESSION_RETENTION_HOURS after its creation (unless pinned).
   * Ignored when continuing a session.
   */
  @IsOptional()
  @IsBoolean()
  temporary?: boolean;
}

/** What a POST /api/v1/chat body asks for: a message (either body), or (useChat) a regeneration. */
export type ChatCommand =
  { kind: 'chat'; request: ChatRequest } | { kind: 'regenerate'; request: RegenerateRequest };

const invalid = (field: string, message: string) =>
  AppError.validation(`Invalid request: ${field} ${message}`, [{ field, message }]);

/** The text of a UI message's text parts. */
function textOf(message: ChatUiMessageDto): string {
  const parts = Array.isArray(message.parts) ? message.parts : [];
  return parts
    .map((part) => (part && part.type === 'text' && typeof part.text === 'string' ? part.text : ''))
    .join('');
}

/**
 * The command of a validated body. The AI SDK's body: `regenerate-message` regenerates `messageId` (else the
 * last message sent, else the session's current leaf); `submit-message` sends the last user message's text
 * under the session's current leaf, or, with `messageId` (an edit), beside that message. 400 names the field
 * at fault.
 */
export function toChatCommand(dto: ChatRequestDto): ChatCommand {
  // A body with text is the plain one: the transport's fields, if any, are not read.
  if (dto.text !== undefined || dto.messages === undefined)
    return { kind: 'chat', request: toChatRequest(dto) };
  for (const field of ['session_id', 'project_id', 'parent_message_id'] as const)
    if (dto[field] !== undefined) throw invalid(field, 'cannot be combined with messages');
  const chatId = dto.id as string;
  const messages = dto.messages;
  const ids = messages.map((m) => (typeof m.id === 'string' && isUuid(m.id) ? m.id.toLowerCase() : null));
  if (dto.trigger === 'regenerate-message') {
    const candidates = [
      dto.messageId && isUuid(dto.messageId) ? dto.messageId.toLowerCase() : null,
      ids.at(-1),
    ];
    return {
      kind: 'regenerate',
      request: { chatId, candidates: candidates.filter((id): id is string => !!id) },
    };
  }
  const last = messages.map((m) => m.role).lastIndexOf('user');
  if (last < 0) throw invalid('messages', 'must contain a user message');
  const text = textOf(messages[last]).trim();
  if (text.length < 1 || text.length > 32000)
    throw invalid('messages', "last user message's text must be 1 to 32,000 characters once trimmed");
  // Without messageId a message is sent: under the current leaf. With it (useChat's sendMessage({messageId})
  // edits that message): beside the edited message when it is a saved one, else under the message before it
  // in the list (a saved one), or first when it is the first.
  const edit = dto.messageId !== undefined;
  const parent = last === 0 ? null : ids[last - 1];
  return {
    kind: 'chat',
    request: {
      text,
      clientChatId: chatId,
      ...(edit && (parent !== null || last === 0) ? { parentMessageId: parent } : {}),
      ...(edit && dto.messageId && isUuid(dto.messageId) ? { editOf: dto.messageId.toLowerCase() } : {}),
      transport: true,
    },
  };
}

/** The service's request from a validated body; 400 for a new first message without its session. */
export function toChatRequest(dto: ChatRequestDto): ChatRequest {
  if (dto.text === undefined) throw invalid('text', 'is required');
  if (dto.parent_message_id === null && dto.session_id === undefined) {
    const message = 'null (a new first message) needs session_id';
    throw AppError.validation(`Invalid request: parent_message_id ${message}`, [
      { field: 'parent_message_id', message },
    ]);
  }
  return {
    text: dto.text,
    sessionId: dto.session_id,
    projectId: dto.project_id,
    ...(dto.temporary === undefined ? {} : { temporary: dto.temporary }),
    ...(dto.parent_message_id === undefined ? {} : { parentMessageId: dto.parent_message_id }),
  };
}

export class ChatQueryDto {
  /** `false`: answer with one JSON object (ChatResponse) instead of the event stream. */
  @IsOptional()
  @QueryBoolean()
  @IsBoolean()
  stream?: boolean;
}

export class ChatUsageDto {
  input_tokens: number | null;
  output_tokens: number | null;
  total_tokens: number | null;
}

export class ChatReplyErrorDto {
  @ApiProperty({ enum: ['provider_error', 'provider_timeout'] })
  code: 'provider_error' | 'provider_timeout';
  message: string;
}

/** What an assistant reply records about how it was made. */
export class ChatReplyMetadataDto {
  /** builtin, openai, openai-compatible or anthropic. */
  provider: string;
  model: string;
  /** As reported by the provider (the built-in provider estimates); null when not reported. */
  usage: ChatUsageDto | null;
  /**
   * How the reply ended: the model's own reason, `aborted` (the client disconnected, with
   * CHAT_ON_DISCONNECT=abort), `shutdown` (the service stopped it while shutting down), `stopped` (POST
   * .../stop), `interrupted` (its instance died; another one saved what it had written) or `error` (the
   * provider failed or timed out: see `error`).
   */
  @ApiProperty({
    enum: [
      'stop',
      'length',
      'content-filter',
      'tool-calls',
      'other',
      'error',
      'aborted',
      'shutdown',
      'stopped',
      'interrupted',
    ],
  })
  finish_reason: string;
  /** From the model call's start to its end. */
  latency_ms: number;
  /** From the model call's start to the first text; null when none arrived. */
  first_token_ms: number | null;
  /** The user message this replies to. */
  @ApiProperty({ format: 'uuid' })
  reply_to: string;
  /** Present when the provider failed or timed out part-way (the content is then partial). */
  error?: ChatReplyErrorDto;
}

/** The saved reply (the same fields as MessageResponse, with its metadata described). */
export class ChatAssistantMessageDto {
  /** The id announced by the stream's `start` part. */
  @ApiProperty({ format: 'uuid' })
  message_id: string;
  @ApiProperty({ format: 'uuid' })
  session_id: string;
  /** Set for replies written through the legacy POST /chat. */
  @ApiProperty({ format: 'uuid' })
  turn_id: string | null;
  /** The user message it answers (`metadata.reply_to`); null only for replies saved before messages had parents. */
  @ApiProperty({ format: 'uuid', type: String, nullable: true })
  parent_id: string | null;
  @ApiProperty({ enum: ['assistant'] })
  role: 'assistant';
  /** The reply; partial when finish_reason is `error`, `aborted` or `shutdown`. */
  content: string;
  metadata: ChatReplyMetadataDto;
  @ApiProperty({ type: String, format: 'date-time' })
  created_at: string;
  @ApiProperty({ type: String, format: 'date-time' })
  updated_at: string;
}

/** The JSON answer of POST /api/v1/chat (`Accept: application/json` or `?stream=false`). */
export class ChatResponseDto {
  /** The session after the exchange (counters and preview updated). */
  session: SessionResponseDto;
  /** Whether this request created the session. */
  session_created: boolean;
  user_message: MessageResponseDto;
  assistant_message: ChatAssistantMessageDto;
}

/** The `data` of the stream's `data-session` part. */
export interface ChatSessionPartData {
  session_id: string;
  project_id: string | null;
  title: string | null;
  user_message_id: string;
  assistant_message_id: string;
  session_created: boolean;
}

export function toChatSessionPartData(start: ChatStart): ChatSessionPartData {
  return {
    session_id: start.session.sessionId,
    project_id: start.session.projectId,
    title: start.session.title,
    user_message_id: start.userMessage.messageId,
    assistant_message_id: start.assistantMessageId,
    session_created: start.sessionCreated,
  };
}

export function toChatResponse(reply: ChatReply): ChatResponseDto {
  return {
    session: toSessionResponse(reply.session),
    session_created: reply.sessionCreated,
    user_message: toMessageResponse(reply.userMessage),
    assistant_message: toMessageResponse(reply.assistantMessage) as unknown as ChatAssistantMessageDto,
  };
}

export class StopRequestDto {
  /** Stop only this reply (an assistant message id the stream's `start` part announced). */
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsAnyUuid()
  message_id?: string;
}

export class StopResponseDto {
  @ApiProperty({ format: 'uuid' })
  session_id: string;
  /** The replies asked to stop; each is saved as it was, with finish_reason `stopped`. */
  @ApiProperty({ type: [String], format: 'uuid' })
  message_ids: string[];
}
