import { Body, Controller, Get, Headers, HttpCode, Post, Res } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Readable } from 'node:stream';
import type { AuthContext } from '../auth/auth-context.js';
import { CurrentAuth } from '../auth/auth.decorators.js';
import { ApiAuthenticated, ApiErrors } from '../common/api-docs.js';
import { NoRequestTimeout } from '../common/route-policy.js';
import { UuidParam } from '../common/uuid-param.js';
import { StreamLimiter } from '../limits/stream-limiter.js';
import { STREAM_CONTENT } from './chat.controller.js';
import { StopRequestDto, StopResponseDto } from './chat.dto.js';
import { holdStream } from './http-streaming.js';
import { RunningRepliesService } from './running-replies.service.js';
import { parseLastEventId, UI_MESSAGE_STREAM_HEADERS, uiMessageStream } from './ui-message-stream.js';

/** The replies running in a session: read one again after a disconnect, or stop them. */
@ApiTags('chat')
@Controller('api/v1')
export class RunningRepliesController {
  constructor(
    private readonly service: RunningRepliesService,
    private readonly streams: StreamLimiter,
  ) {}

  @Get('chat/:session_id/stream')
  @NoRequestTimeout()
  @ApiAuthenticated()
  @ApiOperation({
    summary: 'Resume the reply running in a session (what useChat({ resume: true }) calls)',
    description:
      '204 when no reply is running in the session. Otherwise the reply as the same UI message stream POST ' +
      '/api/v1/chat answers: `start` with the same message id, `data-session`, the text so far, then the text ' +
      'as it is generated, on whichever instance generates it, ending with `finish` and the saved text. ' +
      'With `Last-Event-ID: N` (an `id:` of an earlier stream of the reply: a text offset) it sends only the ' +
      'text from character N on. See docs/chat.md.',
  })
  @ApiHeader({
    name: 'Last-Event-ID',
    required: false,
    description: 'The last SSE `id:` the client received: the stream resumes after it (text offset).',
  })
  @ApiResponse({
    status: 200,
    description: 'The running reply, as a UI message stream',
    content: STREAM_CONTENT,
  })
  @ApiResponse({ status: 204, description: 'No reply is running in the session' })
  @ApiErrors(400, 401, 404, 429, 503)
  async resume(
    @CurrentAuth() auth: AuthContext,
    @UuidParam('session_id') sessionId: string,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const { signal, release } = holdStream(reply, this.streams.acquire(auth.userId));
    const resumeAt = parseLastEventId(lastEventId);
    const run = await this.service.resume(auth, sessionId, { resumeAt, signal }).catch((error: unknown) => {
      release();
      throw error;
    });
    if (!run) {
      release();
      void reply.status(204).send();
      return;
    }
    void reply
      .status(200)
      .header('x-session-id', run.start.session.sessionId)
      .headers(UI_MESSAGE_STREAM_HEADERS)
      .send(Readable.from(uiMessageStream(run, resumeAt)));
  }

  @Post('sessions/:session_id/stop')
  @ApiAuthenticated()
  @ApiOperation({
    summary: 'Stop the reply running in a session, on whichever instance runs it',
    description:
      'Aborts the model call; the reply is saved as it was with finish_reason `stopped`, and its streams end ' +
      'with a `finish` part. `message_id` stops that reply only (404 when it is no message of the session). ' +
      '202 with the replies asked to stop; 204 when nothing is running (stopping twice is harmless).',
  })
  @ApiResponse({ status: 202, type: StopResponseDto, description: 'The replies asked to stop' })
  @ApiResponse({ status: 204, description: 'Nothing was running in the session' })
  @ApiErrors(400, 401, 404, 413, 429)
  @HttpCode(202)
  async stop(
    @CurrentAuth() auth: AuthContext,
    @UuidParam('session_id') sessionId: string,
    @Body() dto: StopRequestDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<StopResponseDto | undefined> {
    const stopped = await this.service.stop(auth, sessionId, dto?.message_id?.toLowerCase());
    if (stopped.length === 0) {
      void reply.status(204);
      return undefined;
    }
    return { session_id: sessionId, message_ids: stopped };
  }
}
