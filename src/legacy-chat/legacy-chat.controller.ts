import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import type { AuthContext } from '../auth/auth-context.js';
import { CurrentAuth, Public } from '../auth/auth.decorators.js';
import { holdStream } from '../chat/http-streaming.js';
import { ApiErrors, ApiPublic } from '../common/api-docs.js';
import { ChatRoute } from '../common/route-policy.js';
import { StreamLimiter } from '../limits/stream-limiter.js';
import { LegacyChatRequestDto } from './legacy-chat.dto.js';
import { LegacyChatService, type LegacyChatEnd } from './legacy-chat.service.js';

/** The rest of the reply after its first piece; a reply cut short ends the response without its last chunk. */
async function* plainText(
  first: string,
  rest: AsyncIterator<string>,
  end: Promise<LegacyChatEnd>,
): AsyncGenerator<string> {
  yield first;
  for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
  const outcome = await end;
  if (outcome.kind === 'failed' || !outcome.complete) throw new Error('The reply was cut short');
}

/** The pre-sessions endpoint, kept for old clients (LEGACY_CHAT_ENABLED). Contract: README and docs/chat.md. */
@ApiTags('legacy')
@Controller('chat')
export class LegacyChatController {
  constructor(
    private readonly service: LegacyChatService,
    private readonly streams: StreamLimiter,
  ) {}

  @Post()
  @HttpCode(200)
  @ChatRoute()
  @Public()
  @ApiPublic()
  @ApiOperation({
    summary: 'Legacy chat: stream the reply as plain text',
    description:
      'For pre-sessions clients. Writes a turn under the dossier (`project_id`, or a new one). Anonymous calls ' +
      'reach only dossiers without members; with X-User-ID or a JWT the call acts as that user (a member of the ' +
      'dossier) and also records the exchange in their session history. A failure before any text is 502/504 ' +
      'JSON; a failure part-way ends the response without its final chunk.',
  })
  @ApiResponse({
    status: 200,
    description: 'The reply, streamed as plain text.',
    headers: {
      'X-Project-ID': {
        description: 'The dossier (project) of the turn',
        schema: { type: 'string', format: 'uuid' },
      },
      'X-Turn-ID': { description: 'The turn written', schema: { type: 'string', format: 'uuid' } },
      'X-Session-ID': {
        description: 'With a user: the session the turn was recorded in',
        schema: { type: 'string', format: 'uuid' },
      },
    },
    content: { 'text/plain': { schema: { type: 'string' } } },
  })
  @ApiErrors(400, 401, 404, 413, 429, 502, 503, 504)
  async legacyChat(
    @CurrentAuth() auth: AuthContext | undefined,
    @Body() dto: LegacyChatRequestDto,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const lease = this.streams.acquire(auth ? auth.userId : `ip:${request.ip}`);
    const { signal, release } = holdStream(reply, lease);
    const run = await this.service
      .chat(auth, { text: dto.text, projectId: dto.project_id }, signal)
      .catch((error: unknown) => {
        release();
        throw error;
      });
    void run.end.finally(release);
    void reply.header('x-project-id', run.projectId).header('x-turn-id', run.turnId);
    if (run.sessionId) void reply.header('x-session-id', run.sessionId);
    // The status is decided by the first piece of text: a failure before it is a JSON error.
    const deltas = run.deltas[Symbol.asyncIterator]();
    const first = await deltas.next();
    if (first.done) {
      const end = await run.end;
      if (end.kind === 'failed') throw end.error;
    }
    void reply
      .status(200)
      .header('content-type', 'text/plain; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('x-accel-buffering', 'no')
      .send(Readable.from(plainText(first.done ? '' : first.value, deltas, run.end)));
  }
}
