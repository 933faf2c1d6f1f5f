import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsBoolean,
  IsDateString,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { IsAnyUuid, QueryInt } from '../common/query-params.js';
import { TrimmedText } from '../common/validation.js';
import type { AdminUserDetail, AdminUserRecord, AuditEntry, UsageRow, UserRole } from './admin.repository.js';

const ROLES: UserRole[] = ['user', 'admin'];

export class ListAdminUsersQueryDto {
  /** Users per page. */
  @IsOptional()
  @QueryInt()
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number = 20;

  /** `next_cursor` of the previous page. */
  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;

  /** Only users whose email or display name contains this text (case-insensitive). */
  @IsOptional()
  @TrimmedText({ minLength: 1, maxLength: 254 })
  q?: string;
}

export class SetUserRoleDto {
  @ApiProperty({ enum: ROLES, enumName: 'UserRole' })
  @IsIn(ROLES)
  role: UserRole;
}

export class SetUserStatusDto {
  /** true disables the user (every request of theirs is refused); false enables them again. */
  @IsBoolean()
  disabled: boolean;
}

export class AdminUserResponseDto {
  @ApiProperty({ format: 'uuid' })
  user_id: string;
  /** The contact address the user gave (unverified unless a provider or a local account verified it). */
  @ApiProperty({ type: String, nullable: true })
  email: string | null;
  @ApiProperty({ type: String, nullable: true })
  display_name: string | null;
  @ApiProperty({ type: String, nullable: true })
  avatar_url: string | null;
  @ApiProperty({ enum: ROLES, enumName: 'UserRole' })
  role: UserRole;
  /** When an admin disabled the user (they cannot sign in or call anything); null while enabled. */
  @ApiProperty({ type: String, nullable: true })
  disabled_at: string | null;
  created_at: string;
  updated_at: string;
}

export class AdminUserDetailResponseDto extends AdminUserResponseDto {
  /** Projects they are a member of. */
  project_count: number;
  session_count: number;
  /** Messages in their sessions. */
  message_count: number;
  api_key_count: number;
  /** The latest of their last message, their last API key use and their profile's last change. */
  last_active_at: string;
}

export class AdminUserListResponseDto {
  /** Newest first (ties by user id). */
  data: AdminUserResponseDto[];
  /** Pass as `cursor` to get the next page; null on the last page. Opaque. */
  @ApiProperty({ type: String, nullable: true })
  next_cursor: string | null;
}

export class UsageQueryDto {
  /** First day (UTC, `YYYY-MM-DD`), inclusive. Default: 30 days before `to`. */
  @IsOptional()
  @Matches(/^\d{4}-\d{2}-\d{2}$/, { message: 'from must be a date YYYY-MM-DD' })
  @IsDateString({ strict: true })
  from?: string;

  /** Last day (UTC, `YYYY-MM-DD`), inclusive. Default: today. */
  @IsOptional()
  @Matches(/^\d{4}-\d{2}-\d{2}$/, { message: 'to must be a date YYYY-MM-DD' })
  @IsDateString({ strict: true })
  to?: string;

  /** Only this user. */
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsAnyUuid()
  user_id?: string;
}

export class UsageRowDto {
  @ApiProperty({ format: 'uuid' })
  user_id: string;
  /** UTC day, `YYYY-MM-DD`. */
  day: string;
  /** The model named in the replies' metadata (`unknown` when none was stored). */
  model: string;
  /** The model's replies (each answers one user message). */
  messages: number;
  /** Sums of the usage the provider reported (replies without usage count 0). */
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
}

export class UsageResponseDto {
  /** The first and last day counted (UTC). */
  from: string;
  to: string;
  /** Newest day first, then by user and model. */
  data: UsageRowDto[];
}

export class AuditQueryDto {
  /** Entries per page. */
  @IsOptional()
  @QueryInt()
  @IsInt()
  @Min(1)
  @Max(200)
  limit?: number = 50;

  /** `next_cursor` of the previous page. */
  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;

  /** Only this action (e.g. `users.disable`). */
  @IsOptional()
  @IsString()
  @Matches(/^[a-z_.]{1,64}$/, { message: 'action must be an action name such as users.disable' })
  action?: string;

  /** Only entries about this target (a user id, for user actions). */
  @IsOptional()
  @IsString()
  @MaxLength(200)
  target?: string;
}

export class AuditEntryDto {
  @ApiProperty({ format: 'uuid' })
  audit_id: string;
  at: string;
  /** The admin who acted. */
  @ApiProperty({ format: 'uuid' })
  actor_id: string;
  /** What they did: `users.list`, `users.get`, `users.role`, `users.disable`, `users.enable`, `users.delete`, `usage.read`, `audit.read`, ... */
  action: string;
  @ApiProperty({ type: String, nullable: true })
  target_type: string | null;
  /** What it was done to: a user id for user actions. */
  @ApiProperty({ type: String, nullable: true })
  target: string | null;
  /** The request's id (X-Request-ID). */
  @ApiProperty({ type: String, nullable: true })
  request_id: string | null;
  @ApiProperty({ type: 'object', additionalProperties: true, nullable: true })
  details: Record<string, unknown> | null;
}

export class AuditPageResponseDto {
  /** Newest first. */
  data: AuditEntryDto[];
  @ApiProperty({ type: String, nullable: true })
  next_cursor: string | null;
}

export function toAdminUserResponse(user: AdminUserRecord): AdminUserResponseDto {
  return {
    user_id: user.userId,
    email: user.email,
    display_name: user.displayName,
    avatar_url: user.avatarUrl,
    role: user.role,
    disabled_at: user.disabledAt,
    created_at: user.createdAt,
    updated_at: user.updatedAt,
  };
}

export function toAdminUserDetailResponse(user: AdminUserDetail): AdminUserDetailResponseDto {
  return {
    ...toAdminUserResponse(user),
    project_count: user.projectCount,
    session_count: user.sessionCount,
    message_count: user.messageCount,
    api_key_count: user.apiKeyCount,
    last_active_at: user.lastActiveAt,
  };
}

export function toUsageRow(row: UsageRow): UsageRowDto {
  return {
    user_id: row.userId,
    day: row.day,
    model: row.model,
    messages: row.replies,
    input_tokens: row.inputTokens,
    output_tokens: row.outputTokens,
    total_tokens: row.inputTokens + row.outputTokens,
  };
}

export function toAuditEntry(entry: AuditEntry): AuditEntryDto {
  return {
    audit_id: entry.auditId,
    at: entry.at,
    actor_id: entry.actorId,
    action: entry.action,
    target_type: entry.targetType,
    target: entry.targetId,
    request_id: entry.requestId,
    details: entry.details,
  };
}
