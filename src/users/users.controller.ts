import { Body, Controller, Delete, Get, HttpCode, Patch, Post, Res } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { AuthContext } from '../auth/auth-context.js';
import { CurrentAuth, Public } from '../auth/auth.decorators.js';
import { ApiAuthenticated, ApiErrors, ApiPublic } from '../common/api-docs.js';
import { CreateUserDto, toUserResponse, UpdateUserDto, UserResponseDto } from './users.dto.js';
import { UsersService } from './users.service.js';

@ApiTags('users')
@Controller('api/v1/users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  /**
   * Create a user. Public. With a bearer JWT it creates the profile of the token's subject and is idempotent
   * (200 with the existing profile on a repeat).
   */
  @Post()
  @Public()
  @ApiPublic()
  @ApiOperation({ summary: 'Create a user' })
  @ApiCreatedResponse({ type: UserResponseDto, description: 'Created' })
  @ApiOkResponse({
    type: UserResponseDto,
    description: 'With a JWT whose subject already has a profile: that profile, unchanged',
  })
  @ApiErrors(400, 401, 413)
  async createUser(
    @CurrentAuth() auth: AuthContext | undefined,
    @Body() dto: CreateUserDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<UserResponseDto> {
    const { user, created } = await this.users.create(auth, dto);
    void reply.status(created ? 201 : 200);
    return toUserResponse(user);
  }

  @Get('me')
  @ApiAuthenticated()
  @ApiOperation({ summary: "Get the caller's profile" })
  @ApiErrors(401)
  async getMe(@CurrentAuth() auth: AuthContext): Promise<UserResponseDto> {
    return toUserResponse(await this.users.me(auth));
  }

  @Patch('me')
  @ApiAuthenticated()
  @ApiOperation({ summary: "Update the caller's profile" })
  @ApiErrors(400, 401, 413)
  async updateMe(@CurrentAuth() auth: AuthContext, @Body() dto: UpdateUserDto): Promise<UserResponseDto> {
    return toUserResponse(await this.users.update(auth, dto));
  }

  /** Deletes the caller, their sessions and messages, and the projects only they belong to. */
  @Delete('me')
  @HttpCode(204)
  @ApiAuthenticated()
  @ApiOperation({ summary: 'Delete the caller and everything they own' })
  @ApiErrors(401)
  async deleteMe(@CurrentAuth() auth: AuthContext): Promise<void> {
    await this.users.remove(auth);
  }
}
