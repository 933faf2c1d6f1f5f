import { Controller, Get, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AuthContext } from '../auth/auth-context.js';
import { CurrentAuth } from '../auth/auth.decorators.js';
import { ApiAuthenticated, ApiErrors } from '../common/api-docs.js';
import { SearchQueryDto, SearchResponseDto, toSearchHitResponse } from './search.dto.js';
import { SearchService } from './search.service.js';

@ApiTags('search')
@ApiAuthenticated()
@Controller('api/v1/search')
export class SearchController {
  constructor(private readonly service: SearchService) {}

  /**
   * Full-text search over the caller's messages and session titles, best match first, keyset-paginated. `q`
   * takes web-search syntax (words, "phrases", `or`, `-word`); snippets mark matched words with `<mark>`
   * in otherwise HTML-escaped text. Archived sessions only with `include_archived=true`.
   */
  @Get()
  @ApiOperation({ summary: "Search the caller's messages and session titles" })
  @ApiErrors(400, 401)
  async search(@CurrentAuth() auth: AuthContext, @Query() query: SearchQueryDto): Promise<SearchResponseDto> {
    const { hits, nextCursor } = await this.service.search(auth, query);
    return { data: hits.map(toSearchHitResponse), next_cursor: nextCursor };
  }
}
