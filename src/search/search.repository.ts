import { Injectable } from '@nestjs/common';
import type { SearchCursor } from '../common/keyset-cursor.js';
import { sqlOf, type Tx } from '../database/database.service.js';
import {
  queryProblem,
  SEARCH,
  searchPageOfRows,
  searchParams,
  type SearchFilter,
  type SearchHit,
  type SearchRow,
} from './search.sql.js';

export type { SearchFilter, SearchHit } from './search.sql.js';

export type SearchResult =
  { problem: 'no-words' | 'only-excluded' } | { problem: null; hits: SearchHit[]; next: SearchCursor | null };

/** Full-text search over the caller's messages and session titles: one statement (search.sql.ts). */
@Injectable()
export class SearchRepository {
  async search(tx: Tx, filter: SearchFilter): Promise<SearchResult> {
    const rows = await sqlOf(tx).query<SearchRow>(SEARCH, searchParams(filter));
    const problem = queryProblem(rows[0]?.tree ?? '');
    if (problem) return { problem };
    return { problem: null, ...searchPageOfRows(rows, filter.limit) };
  }
}
