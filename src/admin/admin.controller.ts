import { Body, Controller, Delete, Get, HttpCode, Put, Query } from '@nestjs/common';
import { ApiExtension, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AuthContext } from '../auth/auth-context.js';
import { CurrentAuth, NoApiKeys, RequestId } from '../auth/auth.decorators.js';
import { ApiAuthenticated, ApiErrors } from '../common/api-docs.js';
import { UuidParam } from '../common/uuid-param.js';
import {
  AdminUserDetailResponseDto,
  AdminUserListResponseDto,
  AdminUserResponseDto,
  AuditPageResponseDto,
  AuditQueryDto,
  ListAdminUsersQueryDto,
  SetUserRoleDto,
  SetUserStatusDto,
  toAdminUserDetailResponse,
  toAdminUserResponse,
  toAuditEntry,
  toUsageRow,
  UsageQueryDto,
  UsageResponseDto,
} from './admin.dto.js';
import { AdminService } from './admin.service.js';

/**
 * Administration: administrators only (403 for everyone else, API keys included), each call recorded in the
 * audit log with the request id. `x-parley-admin` marks these operations in the OpenAPI document.
 */
@ApiTags('admin')
@ApiAuthenticated()
@ApiExtension('x-parley-admin', true)
@NoApiKeys()
@Controller('api/v1/admin')
export class AdminController {
  constructor(private readonly admin: AdminService) {}

  /** Users, newest first, keyset-paginated; `q` searches email and display name. */
  @Get('users')
  @ApiOperation({ summary: 'List users (admin)' })
  @ApiErrors(400, 401, 403)
  async adminListUsers(
    @CurrentAuth() auth: AuthContext,
    @RequestId() requestId: string,
    @Query() query: ListAdminUsersQueryDto,
  ): Promise<AdminUserListResponseDto> {
    const { users, nextCursor } = await this.admin.listUsers({ auth, requestId }, query);
    return { data: users.map(toAdminUserResponse), next_cursor: nextCursor };
  }

  /** One user with counts of what they hold and their last activity. */
  @Get('users/:user_id')
  @ApiOperation({ summary: 'Get a user (admin)' })
  @ApiErrors(400, 401, 403, 404)
  async adminGetUser(
    @CurrentAuth() auth: AuthContext,
    @RequestId() requestId: string,
    @UuidParam('user_id') userId: string,
  ): Promise<AdminUserDetailResponseDto> {
    return toAdminUserDetailResponse(await this.admin.getUser({ auth, requestId }, userId));
  }

  /** Grants or withdraws the admin role. An admin cannot demote themselves (409). */
  @Put('users/:user_id/role')
  @ApiOperation({ summary: "Set a user's role (admin)" })
  @ApiErrors(400, 401, 403, 404, 409, 413)
  async adminSetUserRole(
    @CurrentAuth() auth: AuthContext,
    @RequestId() requestId: string,
    @UuidParam('user_id') userId: string,
    @Body() dto: SetUserRoleDto,
  ): Promise<AdminUserResponseDto> {
    return toAdminUserResponse(await this.admin.setRole({ auth, requestId }, userId, dto.role));
  }

  /**
   * Disables (`disabled: true`) or enables the user. Disabled, from their next request on, their X-User-ID,
   * tokens, refresh tokens and API keys are refused (401); their data stays. An admin cannot disable
   * themselves (409).
   */
  @Put('users/:user_id/status')
  @ApiOperation({ summary: 'Disable or enable a user (admin)' })
  @ApiErrors(400, 401, 403, 404, 409, 413)
  async adminSetUserStatus(
    @CurrentAuth() auth: AuthContext,
    @RequestId() requestId: string,
    @UuidParam('user_id') userId: string,
    @Body() dto: SetUserStatusDto,
  ): Promise<AdminUserResponseDto> {
    return toAdminUserResponse(await this.admin.setDisabled({ auth, requestId }, userId, dto.disabled));
  }

  /** Deletes the user and all their data, as deleting their own account does (docs/architecture.md). */
  @Delete('users/:user_id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a user and all their data (admin)' })
  @ApiErrors(400, 401, 403, 404, 409)
  async adminDeleteUser(
    @CurrentAuth() auth: AuthContext,
    @RequestId() requestId: string,
    @UuidParam('user_id') userId: string,
  ): Promise<void> {
    await this.admin.deleteUser({ auth, requestId }, userId);
  }

  /** Replies and tokens per user, UTC day and model, from the stored reply metadata; 30 days by default. */
  @Get('usage')
  @ApiOperation({ summary: 'Usage per user, day and model (admin)' })
  @ApiErrors(400, 401, 403)
  async adminUsage(
    @CurrentAuth() auth: AuthContext,
    @RequestId() requestId: string,
    @Query() query: UsageQueryDto,
  ): Promise<UsageResponseDto> {
    const { from, to, rows } = await this.admin.usage({ auth, requestId }, query);
    return { from, to, data: rows.map(toUsageRow) };
  }

  /** The audit log, newest first: who did what to whom, when, in which request. Append-only. */
  @Get('audit')
  @ApiOperation({ summary: 'Read the audit log (admin)' })
  @ApiErrors(400, 401, 403)
  async adminAuditLog(
    @CurrentAuth() auth: AuthContext,
    @RequestId() requestId: string,
    @Query() query: AuditQueryDto,
  ): Promise<AuditPageResponseDto> {
    const { entries, nextCursor } = await this.admin.auditLog({ auth, requestId }, query);
    return { data: entries.map(toAuditEntry), next_cursor: nextCursor };
  }
}
