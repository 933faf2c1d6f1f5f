import { Body, Controller, Headers, HttpCode, Inject, Post, Query, Res } from '@nestjs/common';
import {
  ApiExtraModels,
  ApiHeader,
  ApiOperation,
  ApiResponse,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { AuthContext } from '../auth/auth-context.js';
import { CurrentAuth } from '../auth/auth.decorators.js';
import { ApiAuthenticated, ApiErrors } from '../common/api-docs.js';
import { ChatRoute } from '../common/route-policy.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { StreamLimiter } from '../limits/stream-limiter.js';
import { parseIdempotencyKey } from './chat-idempotency.js';
import { ChatQueryDto, ChatRequestDto, ChatResponseDto, toChatCommand } from './chat.dto.js';
import { ChatService } from './chat.service.js';
import { holdStream, sendChatRun, wantsJson } from './http-streaming.js';

export const STREAM_EXAMPLE = [
  'data: {"type":"start","messageId":"<assistant message id>"}',
  'id: 0\ndata: {"type":"data-session","id":"<session id>","data":{"session_id":"…","project_id":"…","title":"…","user_message_id":"…","assistant_message_id":"…","session_created":true}}',
  'data: {"type":"text-start","id":"text-<assistant message id>"}',
  'id: 5\ndata: {"type":"text-delta","id":"text-<assistant message id>","delta":"Hello"}',
  'data: {"type":"text-end","id":"text-<assistant message id>"}',
  'data: {"type":"finish","finishReason":"stop","messageMetadata":{"provider":"builtin","finish_reason":"stop","…":"…"}}',
  'data: [DONE]',
].join('\n\n');

/** The UI message stream as the OpenAPI document describes it (chat, regenerate and resume answer it). */
export const STREAM_CONTENT = {
  'text/event-stream': {
    schema: { type: 'string', description: 'UI message stream protocol v1 parts, one `data:` line each' },
    example: STREAM_EXAMPLE,
  },
};

/** A chat reply's bodies: the saved exchange as JSON, or the stream (chat and regenerate). */
export const CHAT_REPLY_CONTENT = {
  'application/json': { schema: { $ref: getSchemaPath(ChatResponseDto) } },
  ...STREAM_CONTENT,
};

@ApiTags('chat')
@Controller('api/v1/chat')
export class ChatController {
  constructor(
    private readonly service: ChatService,
    private readonly streams: StreamLimiter,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Post()
  @HttpCode(200)
  @ChatRoute()
  @ApiAuthenticated()
  @ApiOperation({
    summary: 'Send a message and get the reply, streamed (default) or as one JSON object',
    description:
      'Continues `session_id`, or starts a session in `project_id`, or in a new project. With ' +
      '`parent_message_id` (an edit) the new message goes under that message of the session (null: a new ' +
      'first message) and becomes the current branch; the edited message and its replies stay in the tree. ' +
      'The default answer is ' +
      'a Server-Sent Events stream in the Vercel AI SDK UI message stream protocol v1 (what `useChat` reads). ' +
      'With `Accept: application/json` or `?stream=false` the answer is one JSON object (ChatResponse) once the ' +
      'reply is saved; a provider failure before any text is then 502 (504 on timeout). The user message is ' +
      'saved before the model is called; the reply is saved when it ends (partial, with finish_reason ' +
      '`error`, `stopped` or `aborted`, when the provider fails part-way, POST /sessions/{id}/stop stops it, or ' +
      'the client disconnects with CHAT_ON_DISCONNECT=abort; by default the reply continues without its ' +
      'client, which can come back through GET /api/v1/chat/{session_id}/stream). SSE `id:` lines are text ' +
      'offsets for Last-Event-ID. See docs/chat.md.',
  })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description:
      'Up to 255 visible ASCII characters. A retry with the same key (same user, same body, within 24 h) ' +
      'answers the original reply without writing anything; while the first is running it is 409; with ' +
      'another body 422.',
  })
  @ApiExtraModels(ChatResponseDto)
  @ApiResponse({
    status: 200,
    description:
      'The reply. Headers: X-Session-ID (always), Idempotent-Replayed: true (a replayed reply). ' +
      'text/event-stream: the UI message stream; application/json: the saved exchange.',
    headers: {
      'X-Session-ID': {
        description: 'The session the exchange belongs to',
        schema: { type: 'string', format: 'uuid' },
      },
    },
    content: CHAT_REPLY_CONTENT,
  })
  @ApiErrors(400, 401, 404, 409, 413, 422, 429, 502, 503, 504)
  async chat(
    @CurrentAuth() auth: AuthContext,
    @Body() dto: ChatRequestDto,
    @Query() query: ChatQueryDto,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Headers('accept') accept: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const key = parseIdempotencyKey(idempotencyKey);
    const command = toChatCommand(dto);
    // One open model call counts as one stream of the caller's (STREAMS_PER_USER_MAX), in either mode.
    const { signal, release } = holdStream(
      reply,
      this.streams.acquire(auth.userId),
      this.config.CHAT_ON_DISCONNECT === 'abort',
    );
    const options = { idempotencyKey: key, signal };
    const run = await (
      command.kind === 'chat'
        ? this.service.chat(auth, command.request, options)
        : this.service.regenerate(auth, command.request, options)
    ).catch((error: unknown) => {
      release();
      throw error;
    });
    await sendChatRun(reply, run, wantsJson(accept, query.stream), release);
  }
}
