import { Injectable } from '@nestjs/common';
import type { AuthContext } from '../auth/auth-context.js';
import { AppError } from '../common/app-error.js';
import { SEARCH_CURSOR } from '../common/keyset-cursor.js';
import { DatabaseService } from '../database/database.service.js';
import type { SearchQueryDto } from './search.dto.js';
import { SearchRepository, type SearchHit } from './search.repository.js';

const PROBLEMS = {
  'no-words': 'has no word to search for',
  'only-excluded': 'needs at least one word that is not excluded with -',
} as const;

/**
 * Search rules: only the caller's own messages and sessions (the statement names the caller, and row-level
 * security filters underneath); archived sessions only when asked.
 */
@Injectable()
export class SearchService {
  constructor(
    private readonly db: DatabaseService,
    private readonly repository: SearchRepository,
  ) {}

  async search(
    auth: AuthContext,
    query: SearchQueryDto,
  ): Promise<{ hits: SearchHit[]; nextCursor: string | null }> {
    const after = query.cursor === undefined ? undefined : SEARCH_CURSOR.decode(query.cursor);
    const result = await this.db.asUser(auth, (tx) =>
      this.repository.search(tx, {
        userId: auth.userId,
        q: query.q,
        projectId: query.project_id,
        sessionId: query.session_id,
        role: query.role,
        from: query.from,
        to: query.to,
        includeArchived: query.include_archived ?? false,
        limit: query.limit ?? 20,
        after,
      }),
    );
    if (result.problem) {
      const message = PROBLEMS[result.problem];
      throw AppError.validation(`Invalid request: q: ${message}`, [{ field: 'q', message }]);
    }
    return { hits: result.hits, nextCursor: result.next ? SEARCH_CURSOR.encode(result.next) : null };
  }
}
