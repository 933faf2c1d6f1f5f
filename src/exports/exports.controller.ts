import { Controller, Get, Query, Res } from '@nestjs/common';
import { ApiExtraModels, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Readable } from 'node:stream';
import type { AuthContext } from '../auth/auth-context.js';
import { CurrentAuth } from '../auth/auth.decorators.js';
import { ApiAuthenticated, ApiErrors } from '../common/api-docs.js';
import { NoRequestTimeout } from '../common/route-policy.js';
import { UuidParam } from '../common/uuid-param.js';
import {
  AccountExportQueryDto,
  EXPORT_DOCUMENT_SCHEMA,
  EXPORT_MODELS,
  ExportQueryDto,
} from './exports.dto.js';
import { ExportsService, type ExportStream } from './exports.service.js';

const EXPORT_RESPONSE = ApiResponse({
  status: 200,
  description:
    "The export, streamed as it is read. `json` and `chatgpt`: application/json (ExportDocument: Parley's " +
    'format, or an array of ChatGPT conversations); `markdown`: text/markdown. Content-Disposition names a file.',
  content: {
    'application/json': { schema: EXPORT_DOCUMENT_SCHEMA },
    'text/markdown': { schema: { type: 'string', description: 'The branch on screen of each session' } },
  },
});

/** Streams an export: the bytes are produced as the client reads them (backpressure), never all held. */
function send(reply: FastifyReply, stream: ExportStream): void {
  void reply
    .status(200)
    .header('content-type', stream.contentType)
    .header('content-disposition', `attachment; filename="${stream.fileName}"`)
    .header('cache-control', 'no-store')
    .send(Readable.from(stream.chunks, { objectMode: false, highWaterMark: 64 * 1024 }));
}

@ApiTags('export')
@ApiAuthenticated()
@ApiExtraModels(...EXPORT_MODELS)
@Controller('api/v1')
export class ExportsController {
  constructor(private readonly exports: ExportsService) {}

  /**
   * One session: `json` (Parley's format, every branch), `chatgpt` (ChatGPT's conversations.json, every
   * branch, Parley's fields under `parley`) or `markdown` (the branch on screen). See docs/export-import.md.
   */
  @Get('sessions/:session_id/export')
  @NoRequestTimeout()
  @ApiOperation({ summary: 'Export a session' })
  @EXPORT_RESPONSE
  @ApiErrors(400, 401, 404)
  async exportSession(
    @CurrentAuth() auth: AuthContext,
    @UuidParam('session_id') sessionId: string,
    @Query() query: ExportQueryDto,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    send(reply, await this.exports.session(auth, sessionId, query.format ?? 'json'));
  }

  /** Every session of the caller's (or of one project, `project_id`), oldest first, in one streamed file. */
  @Get('users/me/export')
  @NoRequestTimeout()
  @ApiOperation({ summary: "Export all the caller's sessions" })
  @EXPORT_RESPONSE
  @ApiErrors(400, 401)
  async exportAccount(
    @CurrentAuth() auth: AuthContext,
    @Query() query: AccountExportQueryDto,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    send(reply, await this.exports.account(auth, query.format ?? 'json', query.project_id ?? null));
  }
}
