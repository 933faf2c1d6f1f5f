import { Body, Controller, Delete, Get, HttpCode, Patch, Post, Query, Res } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { AuthContext } from '../auth/auth-context.js';
import { CurrentAuth } from '../auth/auth.decorators.js';
import { ApiAuthenticated, ApiErrors } from '../common/api-docs.js';
import { UuidParam } from '../common/uuid-param.js';
import {
  AddProjectMemberDto,
  CreateProjectDto,
  ListProjectsQueryDto,
  ProjectListResponseDto,
  ProjectMemberListResponseDto,
  ProjectMemberResponseDto,
  ProjectResponseDto,
  toProjectMemberResponse,
  toProjectResponse,
  UpdateProjectDto,
} from './projects.dto.js';
import { ProjectsService } from './projects.service.js';

@ApiTags('projects')
@ApiAuthenticated()
@Controller('api/v1/projects')
export class ProjectsController {
  constructor(private readonly projects: ProjectsService) {}

  /** Creates a project with the caller as its creator and first member, in one transaction. */
  @Post()
  @ApiOperation({ summary: 'Create a project' })
  @ApiErrors(400, 401, 413)
  async createProject(
    @CurrentAuth() auth: AuthContext,
    @Body() dto: CreateProjectDto,
  ): Promise<ProjectResponseDto> {
    return toProjectResponse(await this.projects.create(auth, dto), auth.userId);
  }

  /**
   * The projects the caller belongs to, newest `last_activity_at` first (ties by id). Keyset-paginated: pass
   * `next_cursor` back as `cursor` for the next page.
   */
  @Get()
  @ApiOperation({ summary: "List the caller's projects" })
  @ApiErrors(400, 401)
  async listProjects(
    @CurrentAuth() auth: AuthContext,
    @Query() query: ListProjectsQueryDto,
  ): Promise<ProjectListResponseDto> {
    const { projects, nextCursor } = await this.projects.list(auth, query);
    return { data: projects.map((p) => toProjectResponse(p, auth.userId)), next_cursor: nextCursor };
  }

  @Get(':project_id')
  @ApiOperation({ summary: 'Get a project' })
  @ApiErrors(400, 401, 404)
  async getProject(
    @CurrentAuth() auth: AuthContext,
    @UuidParam('project_id') projectId: string,
  ): Promise<ProjectResponseDto> {
    return toProjectResponse(await this.projects.get(auth, projectId), auth.userId);
  }

  /** Any member may rename the project. */
  @Patch(':project_id')
  @ApiOperation({ summary: 'Rename a project' })
  @ApiErrors(400, 401, 404, 413)
  async updateProject(
    @CurrentAuth() auth: AuthContext,
    @UuidParam('project_id') projectId: string,
    @Body() dto: UpdateProjectDto,
  ): Promise<ProjectResponseDto> {
    return toProjectResponse(await this.projects.update(auth, projectId, dto), auth.userId);
  }

  /**
   * Deletes the project with everything in it: every member's sessions and messages, and its legacy turns.
   * Only its creator may (403 for other members); any member, for a project without a creator.
   */
  @Delete(':project_id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a project' })
  @ApiErrors(400, 401, 403, 404)
  async deleteProject(
    @CurrentAuth() auth: AuthContext,
    @UuidParam('project_id') projectId: string,
  ): Promise<void> {
    await this.projects.remove(auth, projectId);
  }

  /** The members with their public profile fields (display name, avatar; never emails), in the order they joined. */
  @Get(':project_id/members')
  @ApiOperation({ summary: "List a project's members" })
  @ApiErrors(400, 401, 404)
  async listProjectMembers(
    @CurrentAuth() auth: AuthContext,
    @UuidParam('project_id') projectId: string,
  ): Promise<ProjectMemberListResponseDto> {
    const members = await this.projects.listMembers(auth, projectId);
    return { data: members.map(toProjectMemberResponse) };
  }

  /**
   * Any member may add an existing user. Idempotent: 201 when added, 200 with the membership when the user
   * already belongs. An unknown user is 404.
   */
  @Post(':project_id/members')
  @ApiOperation({ summary: 'Add a member to a project' })
  @ApiCreatedResponse({ type: ProjectMemberResponseDto, description: 'Added' })
  @ApiOkResponse({ type: ProjectMemberResponseDto, description: 'Already a member: nothing changed' })
  @ApiErrors(400, 401, 404, 413)
  async addProjectMember(
    @CurrentAuth() auth: AuthContext,
    @UuidParam('project_id') projectId: string,
    @Body() dto: AddProjectMemberDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ProjectMemberResponseDto> {
    const { member, created } = await this.projects.addMember(auth, projectId, dto.user_id);
    void reply.status(created ? 201 : 200);
    return toProjectMemberResponse(member);
  }

  /**
   * A member may leave (their own user id). Only the creator may remove others (any member, in a project
   * without a creator). The creator cannot leave or be removed (403); the last member cannot leave (409).
   * The removed member's sessions in the project are deleted with the membership.
   */
  @Delete(':project_id/members/:user_id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Remove a member from a project, or leave it' })
  @ApiErrors(400, 401, 403, 404, 409)
  async removeProjectMember(
    @CurrentAuth() auth: AuthContext,
    @UuidParam('project_id') projectId: string,
    @UuidParam('user_id') userId: string,
  ): Promise<void> {
    await this.projects.removeMember(auth, projectId, userId);
  }
}
