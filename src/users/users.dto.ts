import { ApiProperty } from '@nestjs/swagger';
import { IsEmail, IsOptional, IsUrl, MaxLength, ValidateBy } from 'class-validator';
import { Trimmed, TrimmedText } from '../common/validation.js';
import type { UserRecord } from './users.repository.js';

/**
 * An avatar is a URL other users' clients load, never something the server fetches: https only, so a profile
 * cannot point browsers at plain-http or internal addresses (`http://127.0.0.1:5432/x`); http is allowed when
 * NODE_ENV=development (the process's environment, which the typed config reads too), for local images.
 */
function IsAvatarUrl(): PropertyDecorator {
  return ValidateBy({
    name: 'isAvatarUrl',
    validator: {
      validate: (value: unknown) =>
        typeof value !== 'string' ||
        /^https:\/\//i.test(value) ||
        (process.env.NODE_ENV === 'development' && /^http:\/\//i.test(value)),
      defaultMessage: () =>
        process.env.NODE_ENV === 'development'
          ? 'avatar_url must be an https: or http: URL'
          : 'avatar_url must be an https: URL',
    },
  });
}

export class CreateUserDto {
  /** An unverified contact address; several users may give the same one (docs/architecture.md). */
  @IsOptional()
  @Trimmed()
  @IsEmail()
  @MaxLength(254)
  email?: string;

  @IsOptional()
  @TrimmedText({ minLength: 1, maxLength: 100 })
  display_name?: string;

  /** An https URL (http too when NODE_ENV=development). Shown to clients as given; the server never fetches it. */
  @IsOptional()
  @Trimmed()
  @IsUrl({ protocols: ['http', 'https'], require_protocol: true, require_tld: false })
  @IsAvatarUrl()
  @MaxLength(2048)
  avatar_url?: string;
}

/** Fields to change; send null to clear one. */
export class UpdateUserDto {
  @IsOptional()
  @Trimmed()
  @IsEmail()
  @MaxLength(254)
  email?: string | null;

  @IsOptional()
  @TrimmedText({ minLength: 1, maxLength: 100 })
  display_name?: string | null;

  @IsOptional()
  @Trimmed()
  @IsUrl({ protocols: ['http', 'https'], require_protocol: true, require_tld: false })
  @IsAvatarUrl()
  @MaxLength(2048)
  avatar_url?: string | null;
}

export class UserResponseDto {
  /** @example 7d3c4b1e-2f7a-4c55-9d0e-2b8f5f1c9a10 */
  @ApiProperty({ format: 'uuid' })
  user_id: string;
  // Declared for every field so that the document lists them in this order (explicit decorators come first).
  @ApiProperty({ type: String, nullable: true })
  email: string | null;
  @ApiProperty({ type: String, nullable: true })
  display_name: string | null;
  @ApiProperty({ type: String, nullable: true })
  avatar_url: string | null;
  @ApiProperty({ type: String, format: 'date-time' })
  created_at: string;
  @ApiProperty({ type: String, format: 'date-time' })
  updated_at: string;
}

export function toUserResponse(user: UserRecord): UserResponseDto {
  return {
    user_id: user.userId,
    email: user.email,
    display_name: user.displayName,
    avatar_url: user.avatarUrl,
    created_at: user.createdAt,
    updated_at: user.updatedAt,
  };
}
