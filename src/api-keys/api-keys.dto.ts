import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsDateString,
  IsIn,
  IsOptional,
} from 'class-validator';
import { API_KEY_SCOPES, type ApiKeyScope } from '../auth/auth-context.js';
import { TrimmedText } from '../common/validation.js';
import type { ApiKeyRecord } from './api-keys.repository.js';

export class CreateApiKeyDto {
  /** What the key is for (shown in the list). Trimmed; 1 to 100 characters. */
  @TrimmedText({ minLength: 1, maxLength: 100 })
  name: string;

  /**
   * What the key may do: `read` (GET routes), `write` (routes that change data), `chat` (routes that call the
   * model). API keys never manage API keys and never reach admin routes.
   */
  @ApiProperty({ enum: API_KEY_SCOPES, enumName: 'ApiKeyScope', isArray: true, minItems: 1, maxItems: 3 })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(3)
  @ArrayUnique()
  @IsIn(API_KEY_SCOPES, { each: true })
  scopes: ApiKeyScope[];

  /** When the key stops working (ISO 8601, in the future). Omitted: never. */
  @ApiPropertyOptional({ type: String, format: 'date-time' })
  @IsOptional()
  @IsDateString({ strict: true })
  expires_at?: string;
}

export class ApiKeyResponseDto {
  @ApiProperty({ format: 'uuid' })
  key_id: string;
  name: string;
  /** The key's public part (`pk_` and 12 characters): how the key is told apart; the secret is never shown again. */
  prefix: string;
  @ApiProperty({ enum: API_KEY_SCOPES, enumName: 'ApiKeyScope', isArray: true })
  scopes: ApiKeyScope[];
  created_at: string;
  /** When the key was last used (to the minute); null if never. */
  @ApiProperty({ type: String, nullable: true })
  last_used_at: string | null;
  @ApiProperty({ type: String, nullable: true })
  expires_at: string | null;
}

export class CreatedApiKeyResponseDto extends ApiKeyResponseDto {
  /** The whole key, `Authorization: Bearer <key>`. Shown only in this response: store it now. */
  key: string;
}

export class ApiKeyListResponseDto {
  /** Newest first. */
  data: ApiKeyResponseDto[];
}

export function toApiKeyResponse(key: ApiKeyRecord): ApiKeyResponseDto {
  return {
    key_id: key.keyId,
    name: key.name,
    prefix: key.prefix,
    scopes: key.scopes,
    created_at: key.createdAt,
    last_used_at: key.lastUsedAt,
    expires_at: key.expiresAt,
  };
}
