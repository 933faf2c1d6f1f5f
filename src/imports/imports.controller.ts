import { Controller, Get, HttpCode, Post, Query, Req } from '@nestjs/common';
import { ApiExtraModels, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import type { AuthContext } from '../auth/auth-context.js';
import { CurrentAuth } from '../auth/auth.decorators.js';
import { ApiAuthenticated, ApiErrors } from '../common/api-docs.js';
import { StreamedBody } from '../common/route-policy.js';
import { streamedBodyOf } from '../common/streamed-body.js';
import { UuidParam } from '../common/uuid-param.js';
import { EXPORT_DOCUMENT_SCHEMA, EXPORT_MODELS } from '../exports/exports.dto.js';
import { CreateImportQueryDto, ImportResponseDto, toImportResponse } from './imports.dto.js';
import { ImportsService } from './imports.service.js';

@ApiTags('import')
@ApiAuthenticated()
@ApiExtraModels(...EXPORT_MODELS)
@Controller('api/v1/imports')
export class ImportsController {
  constructor(private readonly imports: ImportsService) {}

  /**
   * Imports a ChatGPT export (conversations.json, one split conversations-NNN.json, or the export's zip with
   * its split files and index) or Parley's own json export, sent as the raw body (application/json or
   * application/zip, up to IMPORT_MAX_BYTES). Answers 202 at once; follow GET /imports/{import_id}. Importing
   * the same conversations again creates nothing. See docs/export-import.md.
   */
  @Post()
  @HttpCode(202)
  @StreamedBody()
  @ApiOperation({
    summary: 'Import a ChatGPT or Parley export',
    requestBody: {
      required: true,
      description: 'The export file itself, as the request body',
      content: {
        'application/json': { schema: EXPORT_DOCUMENT_SCHEMA },
        'application/zip': { schema: { type: 'string', format: 'binary' } },
      },
    },
  })
  @ApiErrors(400, 401, 404, 413, 415, 429)
  async createImport(
    @CurrentAuth() auth: AuthContext,
    @Query() query: CreateImportQueryDto,
    @Req() request: FastifyRequest,
  ): Promise<ImportResponseDto> {
    return toImportResponse(
      await this.imports.start(auth, streamedBodyOf(request), query.project_id ?? null),
    );
  }

  /** How the import went: its status, what it created, what it skipped and why, why it failed. */
  @Get(':import_id')
  @ApiOperation({ summary: 'Get an import' })
  @ApiErrors(400, 401, 404)
  async getImport(
    @CurrentAuth() auth: AuthContext,
    @UuidParam('import_id') importId: string,
  ): Promise<ImportResponseDto> {
    return toImportResponse(await this.imports.get(auth, importId));
  }
}
