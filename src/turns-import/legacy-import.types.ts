import type { SqlExecutor } from '../database/sql-executor.js';

/**
 * Shapes shared by the legacy importer, its command line and its tests. The importer turns the pre-sessions
 * `dossier` + `turns` tables into users, memberships, sessions and chat messages (spec, Phase 4).
 */

/** The longest text POST /api/v1/chat accepts. Legacy texts above it are imported whole and reported. */
export const MESSAGE_TEXT_LIMIT = 32_000;

/** Default target of turns per transaction. */
export const DEFAULT_BATCH_TURNS = 20_000;

/** A connection of the importer's own (a pg.Client or a PGlite), closed by whoever opened it. */
export interface ImportConnection {
  db: SqlExecutor;
  close(): Promise<void>;
}

export interface LegacyImportOptions {
  /** Report what would happen without writing anything (read-only transactions). */
  dryRun?: boolean;
  /** Target turns per transaction; whole dossiers only, so a larger dossier is a batch of its own. */
  batchSize?: number;
  /** Only this dossier. */
  projectId?: string;
  /**
   * Batches imported at the same time, each on a connection of its own (PostgreSQL only; the embedded
   * database has one connection). Default 1. Needs `openConnection`.
   */
  jobs?: number;
  /** Opens one more connection like the one given to the importer (for `jobs` > 1). */
  openConnection?: () => Promise<ImportConnection>;
  /** project_id -> existing user id, already resolved (see owners-file.ts). */
  owners?: Map<string, string>;
  /** Called after each batch (and each verified chunk) with the running totals. */
  onProgress?: (progress: ImportProgress) => void;
  /** Asked between batches; returning true stops after the batch that just committed. */
  shouldStop?: () => boolean;
  /** Test seam: called inside each batch's transaction, just before COMMIT. Throwing aborts the batch. */
  beforeCommit?: (batch: number) => Promise<void> | void;
  /** Test seam: called after each batch committed. Throwing stops the run there. */
  afterBatch?: (batch: number) => Promise<void> | void;
}

export interface ImportProgress {
  phase: 'import' | 'verify';
  /** Units done and total: turns when importing, dossiers when verifying. */
  done: number;
  total: number;
  dossiersDone: number;
  dossiersTotal: number;
  startedAt: number;
}

/** Kinds of legacy data the importer reports. */
export type IssueKind =
  | 'missing_dossier'
  | 'empty_both'
  | 'empty_user_text'
  | 'empty_assistant_text'
  | 'duplicate_timestamp'
  | 'over_limit'
  | 'session_deleted'
  | 'failed';

export const ISSUE_DESCRIPTIONS: Record<
  IssueKind,
  { label: string; effect: string; unit: 'turns' | 'dossiers' }
> = {
  missing_dossier: {
    label: 'turns whose dossier is missing',
    effect: 'skipped, left as they are',
    unit: 'turns',
  },
  empty_both: { label: 'turns with both texts empty', effect: 'linked, no message written', unit: 'turns' },
  empty_user_text: {
    label: 'turns with an empty user text',
    effect: 'assistant message only',
    unit: 'turns',
  },
  empty_assistant_text: {
    label: 'turns with an empty assistant text',
    effect: 'user message only',
    unit: 'turns',
  },
  duplicate_timestamp: {
    label: 'turns sharing a timestamp in their dossier',
    effect: 'imported, ordered by turn id',
    unit: 'turns',
  },
  over_limit: {
    label: `turns with a text over ${MESSAGE_TEXT_LIMIT.toLocaleString('en-US')} characters`,
    effect: 'imported whole, never truncated',
    unit: 'turns',
  },
  session_deleted: {
    label: 'dossiers whose imported session was deleted since',
    effect: 'their new turns skipped, nothing re-created',
    unit: 'dossiers',
  },
  failed: { label: 'dossiers that failed with a database error', effect: 'not imported', unit: 'dossiers' },
};

export interface IssueTally {
  count: number;
  /** A few turn ids (or dossier ids) to look at. */
  examples: string[];
  /** Set for `failed`: the database's message for the first example. */
  message?: string;
}

export interface ImportSummary {
  dryRun: boolean;
  /** Dossiers with turns not yet linked to a session when the run started (excluding missing dossiers). */
  dossiersPending: number;
  turnsPending: number;
  dossiersImported: number;
  /** Dossiers imported earlier that received new turns (appended to their session). */
  dossiersContinued: number;
  usersCreated: number;
  ownersMapped: number;
  membershipsAdded: number;
  sessionsCreated: number;
  messagesWritten: number;
  turnsLinked: number;
  batches: number;
  elapsedMs: number;
  /** Stopped early (signal or shouldStop): a re-run continues. */
  interrupted: boolean;
  issues: Partial<Record<IssueKind, IssueTally>>;
}

export interface VerifyMismatch {
  projectId: string;
  problem: string;
}

export interface VerifySummary {
  dossiersChecked: number;
  turnsChecked: number;
  messagesChecked: number;
  /** Dossiers with turns still waiting to be imported. */
  dossiersNotImported: number;
  mismatches: VerifyMismatch[];
  /** Things that are not errors of the import (e.g. an owner deleted their imported session). */
  notes: VerifyMismatch[];
  elapsedMs: number;
}
