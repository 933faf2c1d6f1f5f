import { Controller, Headers, HttpCode, Inject, Post, Query, Res } from '@nestjs/common';
import { ApiExtraModels, ApiHeader, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { AuthContext } from '../auth/auth-context.js';
import { CurrentAuth } from '../auth/auth.decorators.js';
import { ApiAuthenticated, ApiErrors } from '../common/api-docs.js';
import { ChatRoute } from '../common/route-policy.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { UuidParam } from '../common/uuid-param.js';
import { StreamLimiter } from '../limits/stream-limiter.js';
import { parseIdempotencyKey } from './chat-idempotency.js';
import { CHAT_REPLY_CONTENT } from './chat.controller.js';
import { ChatQueryDto, ChatResponseDto } from './chat.dto.js';
import { ChatService } from './chat.service.js';
import { holdStream, sendChatRun, wantsJson } from './http-streaming.js';

@ApiTags('chat')
@Controller('api/v1/sessions/:session_id/messages/:message_id/regenerate')
export class RegenerateController {
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
    summary:
      'Regenerate a reply: a new assistant message beside it, streamed (default) or as one JSON object',
    description:
      '`message_id` is an assistant message (its question is answered again: the new reply is its sibling) or ' +
      'a user message (answered again: a new reply under it). The model reads the branch ending at that ' +
      'question. Once saved, the new reply is the session’s current leaf; the earlier reply stays in the tree ' +
      '(its `sibling_ids`). The answer is the same as POST /api/v1/chat’s (`user_message` is the question ' +
      'answered); see docs/chat.md.',
  })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description: 'As on POST /api/v1/chat: a retry with the same key answers the original reply.',
  })
  @ApiExtraModels(ChatResponseDto)
  @ApiResponse({
    status: 200,
    description: 'The new reply, as POST /api/v1/chat answers it (X-Session-ID; Idempotent-Replayed).',
    headers: {
      'X-Session-ID': {
        description: 'The session the reply belongs to',
        schema: { type: 'string', format: 'uuid' },
      },
    },
    content: CHAT_REPLY_CONTENT,
  })
  @ApiErrors(400, 401, 404, 409, 413, 422, 429, 502, 503, 504)
  async regenerateMessage(
    @CurrentAuth() auth: AuthContext,
    @UuidParam('session_id') sessionId: string,
    @UuidParam('message_id') messageId: string,
    @Query() query: ChatQueryDto,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Headers('accept') accept: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const key = parseIdempotencyKey(idempotencyKey);
    // As POST /api/v1/chat: the reply goes on when its client leaves unless CHAT_ON_DISCONNECT=abort.
    const { signal, release } = holdStream(
      reply,
      this.streams.acquire(auth.userId),
      this.config.CHAT_ON_DISCONNECT === 'abort',
    );
    const run = await this.service
      .regenerate(auth, { sessionId, messageId }, { idempotencyKey: key, signal })
      .catch((error: unknown) => {
        release();
        throw error;
      });
    await sendChatRun(reply, run, wantsJson(accept, query.stream), release);
  }
}
