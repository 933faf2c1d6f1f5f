import { Body, Controller, Delete, Get, HttpCode, Patch, Post, Put, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AuthContext } from '../auth/auth-context.js';
import { CurrentAuth } from '../auth/auth.decorators.js';
import { ApiAuthenticated, ApiErrors } from '../common/api-docs.js';
import { UuidParam } from '../common/uuid-param.js';
import {
  CreateSessionDto,
  ListSessionsQueryDto,
  SessionListResponseDto,
  SessionResponseDto,
  SwitchBranchDto,
  toSessionResponse,
  UpdateSessionDto,
  UpdateSessionTitleDto,
} from './sessions.dto.js';
import { SessionsService } from './sessions.service.js';

@ApiTags('sessions')
@ApiAuthenticated()
@Controller('api/v1/sessions')
export class SessionsController {
  constructor(private readonly sessions: SessionsService) {}

  /** Creates an empty session, in the named project or in a new project of the caller's. */
  @Post()
  @ApiOperation({ summary: 'Create a session' })
  @ApiErrors(400, 401, 404, 413)
  async createSession(
    @CurrentAuth() auth: AuthContext,
    @Body() dto: CreateSessionDto,
  ): Promise<SessionResponseDto> {
    return toSessionResponse(await this.sessions.create(auth, dto));
  }

  /**
   * The caller's sessions, most recent `last_message_at` first (ties by id), with message counts and
   * previews. Keyset-paginated: pass `next_cursor` back as `cursor` (with the same filters) for the next page.
   */
  @Get()
  @ApiOperation({ summary: "List the caller's sessions" })
  @ApiErrors(400, 401)
  async listSessions(
    @CurrentAuth() auth: AuthContext,
    @Query() query: ListSessionsQueryDto,
  ): Promise<SessionListResponseDto> {
    const { sessions, nextCursor } = await this.sessions.list(auth, query);
    return { data: sessions.map(toSessionResponse), next_cursor: nextCursor };
  }

  @Get(':session_id')
  @ApiOperation({ summary: 'Get a session' })
  @ApiErrors(400, 401, 404)
  async getSession(
    @CurrentAuth() auth: AuthContext,
    @UuidParam('session_id') sessionId: string,
  ): Promise<SessionResponseDto> {
    return toSessionResponse(await this.sessions.get(auth, sessionId));
  }

  @Put(':session_id/title')
  @ApiOperation({ summary: "Set a session's title" })
  @ApiErrors(400, 401, 404, 413)
  async updateSessionTitle(
    @CurrentAuth() auth: AuthContext,
    @UuidParam('session_id') sessionId: string,
    @Body() dto: UpdateSessionTitleDto,
  ): Promise<SessionResponseDto> {
    return toSessionResponse(await this.sessions.rename(auth, sessionId, dto.title));
  }

  /**
   * Switches the session to another branch of its message tree (after an edit or a regeneration): the newest
   * branch through `message_id`. What `GET …/messages` returns by default, what the model reads next, and the
   * session's `message_count` and `last_message_preview` follow it.
   */
  @Put(':session_id/current-leaf')
  @ApiOperation({ summary: "Switch a session's current branch" })
  @ApiErrors(400, 401, 404, 413)
  async switchSessionBranch(
    @CurrentAuth() auth: AuthContext,
    @UuidParam('session_id') sessionId: string,
    @Body() dto: SwitchBranchDto,
  ): Promise<SessionResponseDto> {
    return toSessionResponse(await this.sessions.switchBranch(auth, sessionId, dto.message_id));
  }

  /** Changes the title and/or archives (`is_active: false`) or restores (`true`) the session. */
  @Patch(':session_id')
  @ApiOperation({ summary: 'Update or archive a session' })
  @ApiErrors(400, 401, 404, 413)
  async updateSession(
    @CurrentAuth() auth: AuthContext,
    @UuidParam('session_id') sessionId: string,
    @Body() dto: UpdateSessionDto,
  ): Promise<SessionResponseDto> {
    return toSessionResponse(await this.sessions.update(auth, sessionId, dto));
  }

  /** Deletes the session and its messages. Legacy turns imported into it stay, no longer linked. */
  @Delete(':session_id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a session and its messages' })
  @ApiErrors(400, 401, 404)
  async deleteSession(
    @CurrentAuth() auth: AuthContext,
    @UuidParam('session_id') sessionId: string,
  ): Promise<void> {
    await this.sessions.remove(auth, sessionId);
  }
}
