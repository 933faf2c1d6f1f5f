import { sqlStateOf } from '../common/sql-errors.js';
import type { SqlExecutor } from '../database/sql-executor.js';
import {
  type BatchStats,
  type Candidate,
  LegacyImportRepository,
  MIN_UUID,
} from './legacy-import.repository.js';
import {
  DEFAULT_BATCH_TURNS,
  type ImportConnection,
  type ImportProgress,
  type ImportSummary,
  type IssueKind,
  type LegacyImportOptions,
  type VerifySummary,
} from './legacy-import.types.js';

/** A condition that stops the run before it starts (exit code 2): wrong database, another run going on. */
export class ImportPreconditionError extends Error {}

/** Candidate dossiers fetched per round trip while forming batches. */
const CANDIDATE_PAGE = 2_000;
/** Imported dossiers checked per verification query. */
const VERIFY_CHUNK = 1_000;
/** A batch that loses a serialization race with live traffic is retried this many times. */
const MAX_ATTEMPTS = 5;
const EXAMPLES_KEPT = 5;

/**
 * SQLSTATE classes caused by the data of some dossier rather than by the database or the code: the batch is
 * retried one dossier at a time so that only the culprit is reported and skipped.
 *   22 data exception, 23 integrity constraint violation, 54 program limit exceeded, P0 raised by PL/pgSQL.
 */
const DATA_ERROR_CLASSES = ['22', '23', '54', 'P0'];
/** Lost a race with concurrent writers: retry the same batch. */
const RETRYABLE_STATES = ['40001', '40P01'];

/**
 * Imports legacy dossiers and turns into users, memberships, sessions and messages, batch by batch.
 *
 * Each batch (whole dossiers, about `batchSize` turns) is one transaction: it creates the owners, the
 * memberships and the sessions, writes the messages, links the turns and records the dossiers in the ledger,
 * then commits. What is done is therefore visible in the data itself (turns linked to a session): stopping
 * the process at any moment and running again continues where it stopped, and a run with nothing left to do
 * changes nothing.
 *
 * With `jobs` > 1 (PostgreSQL), batches are imported at the same time on connections of their own; they
 * never share a dossier, so they never wait for each other.
 *
 * MAINTENANCE ONLY: give it one dedicated connection of a role that bypasses row-level security.
 */
export class LegacyImporter {
  private readonly repo: LegacyImportRepository;
  private readonly batchSize: number;
  private readonly jobs: number;
  private batchesStarted = 0;

  constructor(
    db: SqlExecutor,
    private readonly options: LegacyImportOptions = {},
  ) {
    this.repo = new LegacyImportRepository(db);
    this.batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_TURNS);
    const jobs = Math.max(1, Math.trunc(options.jobs ?? 1));
    this.jobs = db.kind === 'postgres' && options.openConnection ? jobs : 1;
  }

  async run(): Promise<ImportSummary> {
    const startedAt = Date.now();
    const dryRun = this.options.dryRun ?? false;
    const summary: ImportSummary = {
      dryRun,
      dossiersPending: 0,
      turnsPending: 0,
      dossiersImported: 0,
      dossiersContinued: 0,
      usersCreated: 0,
      ownersMapped: 0,
      membershipsAdded: 0,
      sessionsCreated: 0,
      messagesWritten: 0,
      turnsLinked: 0,
      batches: 0,
      elapsedMs: 0,
      interrupted: false,
      issues: {},
    };
    await this.withLock(async () => {
      if (!dryRun && !this.options.projectId) await this.repo.vacuumLegacyTables();
      const totals = await this.repo.pendingTotals(this.options.projectId);
      summary.dossiersPending = totals.dossiers;
      summary.turnsPending = totals.turns;
      tally(summary, 'missing_dossier', totals.orphanTurns, totals.orphanExamples);
      const progress: ImportProgress = {
        phase: 'import',
        done: 0,
        total: totals.turns,
        dossiersDone: 0,
        dossiersTotal: totals.dossiers,
        startedAt,
      };
      this.options.onProgress?.({ ...progress });

      await this.withWorkers(async (workers) => {
        // One producer (this connection) hands batches to the workers in dossier-id order.
        const source = this.batches();
        let stop = false;
        const outcomes = await Promise.allSettled(
          workers.map(async (worker) => {
            while (!stop) {
              const next = await source.next();
              if (next.done || stop) return;
              const batch = next.value;
              try {
                await this.importBatch(worker, batch, summary);
              } catch (error) {
                stop = true;
                throw error;
              }
              progress.done = Math.min(
                progress.total,
                progress.done + batch.reduce((n, c) => n + c.pending, 0),
              );
              progress.dossiersDone = Math.min(progress.dossiersTotal, progress.dossiersDone + batch.length);
              this.options.onProgress?.({ ...progress });
              try {
                await this.options.afterBatch?.(summary.batches);
              } catch (error) {
                stop = true;
                throw error;
              }
              if (this.options.shouldStop?.()) {
                summary.interrupted = true;
                stop = true;
              }
            }
          }),
        );
        const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
        if (failure) throw failure.reason;
      });
      if (!dryRun && summary.turnsLinked > 0) await this.repo.analyze();
    });
    summary.elapsedMs = Date.now() - startedAt;
    return summary;
  }

  /**
   * Checks what the import produced, writing nothing: every imported dossier's session, owner, membership,
   * counters, and its turns against its messages (count, order, role, text, time); and that no existing
   * dossier still has turns waiting.
   */
  async verify(): Promise<VerifySummary> {
    const startedAt = Date.now();
    const result: VerifySummary = {
      dossiersChecked: 0,
      turnsChecked: 0,
      messagesChecked: 0,
      dossiersNotImported: 0,
      mismatches: [],
      notes: [],
      elapsedMs: 0,
    };
    await this.withLock(async () => {
      const waiting = await this.repo.notImported(this.options.projectId);
      result.dossiersNotImported = waiting.dossiers;
      for (const projectId of waiting.examples) {
        result.mismatches.push({ projectId, problem: 'has turns that were not imported' });
      }
      const total = await this.repo.countImported(this.options.projectId);
      const progress: ImportProgress = {
        phase: 'verify',
        done: 0,
        total,
        dossiersDone: 0,
        dossiersTotal: total,
        startedAt,
      };
      this.options.onProgress?.({ ...progress });
      let cursor = MIN_UUID;
      for (;;) {
        const ids = await this.repo.nextImported(cursor, VERIFY_CHUNK, this.options.projectId);
        if (ids.length === 0) break;
        cursor = ids[ids.length - 1];
        await this.repo.begin(true);
        try {
          const structure = await this.repo.verifyStructure(ids);
          const messages = await this.repo.verifyMessages(ids);
          for (const p of [...structure, ...messages.problems]) {
            (p.note ? result.notes : result.mismatches).push({ projectId: p.projectId, problem: p.problem });
          }
          result.turnsChecked += messages.turns;
          result.messagesChecked += messages.messages;
        } finally {
          await this.repo.rollback();
        }
        result.dossiersChecked += ids.length;
        progress.done = progress.dossiersDone = result.dossiersChecked;
        this.options.onProgress?.({ ...progress });
        if (this.options.shouldStop?.()) break;
      }
    });
    result.elapsedMs = Date.now() - startedAt;
    return result;
  }

  private async withLock(work: () => Promise<void>): Promise<void> {
    const problem = await this.repo.prerequisiteProblem();
    if (problem) throw new ImportPreconditionError(problem);
    if (!(await this.repo.tryLock())) {
      throw new ImportPreconditionError(
        'another legacy import (or verification) is running on this database; wait for it to finish',
      );
    }
    try {
      await this.repo.createWorkTables();
      await this.repo.loadOwners(this.options.owners ?? new Map());
      await work();
    } finally {
      await this.repo.dropWorkTables().catch(() => undefined);
      await this.repo.unlock().catch(() => undefined);
    }
  }

  /** The connections that import batches: this one alone, or `jobs` more of their own. */
  private async withWorkers(work: (workers: LegacyImportRepository[]) => Promise<void>): Promise<void> {
    if (this.jobs === 1 || !this.options.openConnection) return work([this.repo]);
    const connections: ImportConnection[] = [];
    try {
      const workers: LegacyImportRepository[] = [];
      for (let i = 0; i < this.jobs; i++) {
        const connection = await this.options.openConnection();
        connections.push(connection);
        const worker = new LegacyImportRepository(connection.db);
        await worker.createWorkTables();
        await worker.loadOwners(this.options.owners ?? new Map());
        workers.push(worker);
      }
      await work(workers);
    } finally {
      await Promise.all(connections.map((c) => c.close().catch(() => undefined)));
    }
  }

  /** Batches of whole dossiers, about `batchSize` turns each, in dossier-id order. */
  private async *batches(): AsyncGenerator<Candidate[]> {
    let cursor = MIN_UUID;
    let batch: Candidate[] = [];
    let turns = 0;
    for (;;) {
      const page = await this.repo.nextCandidates(cursor, CANDIDATE_PAGE, this.options.projectId);
      if (page.length === 0) break;
      cursor = page[page.length - 1].projectId;
      for (const candidate of page) {
        if (!candidate.hasDossier) continue; // orphans: counted once at the start, never imported
        if (batch.length > 0 && turns + candidate.pending > this.batchSize) {
          yield batch;
          batch = [];
          turns = 0;
        }
        batch.push(candidate);
        turns += candidate.pending;
      }
      if (page.length < CANDIDATE_PAGE) break;
    }
    if (batch.length > 0) yield batch;
  }

  /**
   * One batch, retried on a lost serialization race; on an error caused by some dossier's data, the batch is
   * replayed one dossier at a time and only the failing dossiers are skipped (and reported).
   */
  private async importBatch(
    repo: LegacyImportRepository,
    candidates: Candidate[],
    summary: ImportSummary,
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.importOnce(repo, candidates, summary);
        return;
      } catch (error) {
        const state = sqlStateOf(error);
        if (state && RETRYABLE_STATES.includes(state) && attempt < MAX_ATTEMPTS) continue;
        if (!state || !DATA_ERROR_CLASSES.includes(state.slice(0, 2))) throw error;
        if (candidates.length > 1) {
          for (const candidate of candidates) await this.importBatch(repo, [candidate], summary);
          return;
        }
        tally(summary, 'failed', 1, [candidates[0].projectId], (error as Error).message);
        return;
      }
    }
  }

  private async importOnce(
    repo: LegacyImportRepository,
    candidates: Candidate[],
    summary: ImportSummary,
  ): Promise<void> {
    const dryRun = summary.dryRun;
    const batchNo = ++this.batchesStarted;
    await repo.begin(dryRun);
    let stats: BatchStats;
    const written = { users: 0, memberships: 0, sessions: 0, messages: 0, turns: 0 };
    try {
      await repo.fillBatch(candidates.map((c) => c.projectId));
      stats = await repo.batchStats();
      if (dryRun) {
        written.users = stats.ownersToCreate;
        written.memberships = stats.newDossiers;
        written.sessions = stats.newDossiers;
        written.messages = stats.messages;
        written.turns = stats.turns;
      } else {
        written.users = await repo.createOwners();
        written.memberships = await repo.addMemberships();
        written.sessions = await repo.createSessions();
        const linked = await repo.linkTurnsAndWriteMessages();
        written.turns = linked.turns;
        written.messages = linked.messages;
        // The same snapshot saw the same turns: anything else is a bug, and the batch must not commit.
        if (
          written.turns !== stats.turns ||
          written.messages !== stats.messages ||
          written.sessions !== stats.newDossiers ||
          written.users !== stats.ownersToCreate
        ) {
          throw new Error(
            `batch ${batchNo} is inconsistent: planned ${stats.turns} turns, ${stats.messages} messages, ` +
              `${stats.newDossiers} sessions; wrote ${written.turns}, ${written.messages}, ${written.sessions}`,
          );
        }
      }
      await this.options.beforeCommit?.(batchNo);
      if (dryRun) await repo.rollback();
      else await repo.commit();
    } catch (error) {
      await repo.rollback().catch(() => undefined);
      throw error;
    }

    summary.batches++;
    summary.dossiersImported += stats.newDossiers;
    summary.dossiersContinued += stats.continuedDossiers;
    summary.usersCreated += written.users;
    summary.ownersMapped += stats.ownersMapped;
    summary.membershipsAdded += written.memberships;
    summary.sessionsCreated += written.sessions;
    summary.messagesWritten += written.messages;
    summary.turnsLinked += written.turns;
    tally(summary, 'empty_both', stats.emptyBoth, stats.emptyBothExamples);
    tally(summary, 'empty_user_text', stats.emptyUser, stats.emptyUserExamples);
    tally(summary, 'empty_assistant_text', stats.emptyAssistant, stats.emptyAssistantExamples);
    tally(summary, 'duplicate_timestamp', stats.duplicateTimestamps, stats.duplicateTimestampExamples);
    tally(summary, 'over_limit', stats.overLimit, stats.overLimitExamples);
    tally(summary, 'session_deleted', stats.sessionDeleted, stats.sessionDeletedExamples);
  }
}

function tally(
  summary: ImportSummary,
  kind: IssueKind,
  count: number,
  examples: string[],
  message?: string,
): void {
  if (count <= 0) return;
  const entry = (summary.issues[kind] ??= { count: 0, examples: [] });
  entry.count += count;
  for (const id of examples) if (entry.examples.length < EXAMPLES_KEPT) entry.examples.push(id);
  if (message && !entry.message) entry.message = message;
}

/** The exit status of a run: 0 only when everything that could be imported was. */
export function importExitCode(summary: ImportSummary): number {
  if (summary.interrupted) return 130;
  return summary.issues.failed ? 1 : 0;
}

export function verifyExitCode(result: VerifySummary): number {
  return result.mismatches.length > 0 || result.dossiersNotImported > 0 ? 1 : 0;
}
