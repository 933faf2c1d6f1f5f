/**
 * User ids the database has recently confirmed to exist (a request transaction of theirs committed, or their
 * row was just created), kept in memory for a short time. It decides only which rate-limit budget a caller is
 * charged to (src/limits/rate-limit.guard.ts): an X-User-ID nobody has proven yet is counted by client
 * address, so random ids get no budget of their own. It never grants anything: every request transaction still
 * checks the caller in its first statement (app.assert_user_exists), and an id that check refuses (a user
 * deleted here or on another instance) is forgotten at once.
 *
 * Loads neither Nest nor Prisma.
 */
export class KnownUsers {
  /** user id -> when it stops counting as proven (ms since the epoch); oldest proof first. */
  private readonly until = new Map<string, number>();

  constructor(
    private readonly ttlMs = 60_000,
    private readonly maxEntries = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The database has just shown that `userId` exists. */
  prove(userId: string): void {
    this.until.delete(userId);
    this.until.set(userId, this.now() + this.ttlMs);
    if (this.until.size > this.maxEntries) {
      const oldest = this.until.keys().next().value;
      if (oldest !== undefined) this.until.delete(oldest);
    }
  }

  /** The database has refused `userId` as a caller (it does not exist, or no longer). */
  forget(userId: string): void {
    this.until.delete(userId);
  }

  /** Whether `userId` was proven within the last TTL. */
  has(userId: string): boolean {
    const until = this.until.get(userId);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.until.delete(userId);
    return false;
  }
}
