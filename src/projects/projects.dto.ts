import { ApiProperty } from '@nestjs/swagger';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { IsAnyUuid, QueryInt } from '../common/query-params.js';
import { TrimmedText } from '../common/validation.js';
import type { MemberRecord, ProjectView } from './projects.repository.js';

export class CreateProjectDto {
  /** Trimmed; 1 to 200 characters. */
  @TrimmedText({ minLength: 1, maxLength: 200 })
  title: string;
}

/** Fields to change; omitted fields stay as they are. */
export class UpdateProjectDto {
  /** Trimmed; 1 to 200 characters; null clears it. */
  @IsOptional()
  @TrimmedText({ minLength: 1, maxLength: 200 })
  title?: string | null;
}

export class ListProjectsQueryDto {
  /** Projects per page. */
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
}

export class AddProjectMemberDto {
  /** An existing user. */
  @ApiProperty({ format: 'uuid' })
  @IsAnyUuid()
  user_id: string;
}

export class ProjectResponseDto {
  @ApiProperty({ format: 'uuid', example: '3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f' })
  project_id: string;
  /** The user who created the project, the one who may delete it; null for legacy dossiers and after the creator's account is deleted. */
  @ApiProperty({ format: 'uuid', nullable: true, type: String })
  created_by: string | null;
  /** Null for an untitled project (legacy dossiers, projects made by chat without a title). */
  @ApiProperty({ type: String, nullable: true })
  title: string | null;
  /** Whether the caller created it. */
  @ApiProperty({ type: Boolean })
  is_creator: boolean;
  // Every field is declared, in the order the document has always listed them as required (declared fields
  // come first there).
  @ApiProperty({ type: String, format: 'date-time' })
  created_at: string;
  @ApiProperty({ type: String, format: 'date-time' })
  updated_at: string;
  /**
   * The caller's latest activity in the project: when they joined, the project's last change, or their own
   * latest session activity in it, whichever is newest. Lists are ordered by it.
   */
  @ApiProperty({ type: String, format: 'date-time' })
  last_activity_at: string;
}

export class ProjectListResponseDto {
  /** Newest `last_activity_at` first (ties by project id). */
  data: ProjectResponseDto[];
  /** Pass as `cursor` to get the next page; null on the last page. Opaque. */
  next_cursor: string | null;
}

export class ProjectMemberResponseDto {
  @ApiProperty({ format: 'uuid' })
  user_id: string;
  /** The member's public display name (emails are never shown to other members). */
  @ApiProperty({ type: String, nullable: true })
  display_name: string | null;
  // Every field is declared, so the document lists them as required in this order.
  @ApiProperty({ type: String, nullable: true })
  avatar_url: string | null;
  /** Whether this member created the project. */
  @ApiProperty({ type: Boolean })
  is_creator: boolean;
  /** When they became a member. */
  @ApiProperty({ type: String, format: 'date-time' })
  joined_at: string;
}

export class ProjectMemberListResponseDto {
  /** In the order they joined. */
  data: ProjectMemberResponseDto[];
}

export function toProjectResponse(project: ProjectView, callerId: string): ProjectResponseDto {
  return {
    project_id: project.projectId,
    title: project.title,
    created_by: project.createdBy,
    is_creator: project.createdBy !== null && project.createdBy === callerId,
    created_at: project.createdAt,
    updated_at: project.updatedAt,
    last_activity_at: project.lastActivityAt,
  };
}

export function toProjectMemberResponse(member: MemberRecord): ProjectMemberResponseDto {
  return {
    user_id: member.userId,
    display_name: member.displayName,
    avatar_url: member.avatarUrl,
    is_creator: member.isCreator,
    joined_at: member.joinedAt,
  };
}
