import { Controller, Get, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AuthContext } from '../auth/auth-context.js';
import { CurrentAuth } from '../auth/auth.decorators.js';
import { ApiAuthenticated, ApiErrors } from '../common/api-docs.js';
import { UuidParam } from '../common/uuid-param.js';
import { ListMessagesQueryDto, MessagePageResponseDto, toPagedMessageResponse } from './messages.dto.js';
import { MessagesService } from './messages.service.js';

@ApiTags('messages')
@ApiAuthenticated()
@Controller('api/v1/sessions/:session_id/messages')
export class MessagesController {
  constructor(private readonly messages: MessagesService) {}

  /**
   * A page of the session's current branch (the conversation from its first message down to the current
   * leaf; `branch=all` for every message of every branch), oldest first, each message with its `parent_id` and
   * `sibling_ids`. `limit`/`offset` from the oldest; for deep history use keyset paging, whose cost does not
   * grow with depth: `latest=true` for the newest page, then `before=<prev_before>` for older pages, or
   * `after=<next_after>` for newer ones.
   */
  @Get()
  @ApiOperation({ summary: "List a session's messages" })
  @ApiErrors(400, 401, 404)
  async listSessionMessages(
    @CurrentAuth() auth: AuthContext,
    @UuidParam('session_id') sessionId: string,
    @Query() query: ListMessagesQueryDto,
  ): Promise<MessagePageResponseDto> {
    const page = await this.messages.list(auth, sessionId, query);
    return {
      data: page.messages.map(toPagedMessageResponse),
      total: page.total,
      has_more: page.hasMore,
      prev_before: page.prevBefore,
      next_after: page.nextAfter,
    };
  }
}
