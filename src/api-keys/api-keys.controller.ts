import { Body, Controller, Delete, Get, HttpCode, Post } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AuthContext } from '../auth/auth-context.js';
import { CurrentAuth, NoApiKeys } from '../auth/auth.decorators.js';
import { ApiAuthenticated, ApiErrors } from '../common/api-docs.js';
import { UuidParam } from '../common/uuid-param.js';
import {
  ApiKeyListResponseDto,
  CreateApiKeyDto,
  CreatedApiKeyResponseDto,
  toApiKeyResponse,
} from './api-keys.dto.js';
import { ApiKeysService } from './api-keys.service.js';

/** The caller's API keys. Managed only with the caller's own identity: an API key cannot mint or revoke keys (403). */
@ApiTags('api-keys')
@ApiAuthenticated()
@NoApiKeys()
@Controller('api/v1/users/me/api-keys')
export class ApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  /** Creates a key; the answer holds the whole key, the only time it is shown. */
  @Post()
  @ApiOperation({ summary: 'Create an API key' })
  @ApiErrors(400, 401, 403, 409, 413)
  async createApiKey(
    @CurrentAuth() auth: AuthContext,
    @Body() dto: CreateApiKeyDto,
  ): Promise<CreatedApiKeyResponseDto> {
    const { key, text } = await this.keys.create(auth, dto);
    return { ...toApiKeyResponse(key), key: text };
  }

  /** The caller's keys, newest first: prefix, name, scopes, created, last used, expiry (never the secret). */
  @Get()
  @ApiOperation({ summary: "List the caller's API keys" })
  @ApiErrors(401, 403)
  async listApiKeys(@CurrentAuth() auth: AuthContext): Promise<ApiKeyListResponseDto> {
    return { data: (await this.keys.list(auth)).map(toApiKeyResponse) };
  }

  /** Revokes the key at once: the next request presenting it is 401. */
  @Delete(':key_id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke an API key' })
  @ApiErrors(400, 401, 403, 404)
  async deleteApiKey(@CurrentAuth() auth: AuthContext, @UuidParam('key_id') keyId: string): Promise<void> {
    await this.keys.revoke(auth, keyId);
  }
}
