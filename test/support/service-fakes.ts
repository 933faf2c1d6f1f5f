/**
 * The one set of fakes the service specs (src/**\/*.service.spec.ts) run the rules against: an in-memory
 * database of the feature tables (FakeStore), a DatabaseService whose transactions run against it and roll it
 * back when the work throws, and an in-memory repository for each table with the visibility row-level
 * security gives the caller. The fakes keep the data a service reads and writes; specs assert what the
 * service answered and what the store holds afterwards, not which repository methods were called.
 */
import { randomUUID } from 'node:crypto';
import type { AuthContext } from '../../src/auth/auth-context.js';
import type { ModelContext } from '../../src/chat/chat-context.js';
import type { ChatModel, ModelEvent, ModelRequest, TokenUsage } from '../../src/llm/chat-model.js';
import type {
  IdempotencyKeysRepository,
  IdempotencyRow,
  IdempotencyState,
} from '../../src/chat/idempotency-keys.repository.js';
import type { SessionCursor, ProjectCursor } from '../../src/common/keyset-cursor.js';
import type { DatabaseService, Tx } from '../../src/database/database.service.js';
import type {
  ContextEntry,
  MessageRecord,
  MessageWindow,
  MessagesRepository,
  NewMessage,
} from '../../src/messages/messages.repository.js';
import type { MetricsService } from '../../src/metrics/metrics.service.js';
import type {
  AddMemberResult,
  MemberRecord,
  ProjectPage,
  ProjectRecord,
  ProjectsRepository,
  ProjectView,
} from '../../src/projects/projects.repository.js';
import type {
  OwnedSession,
  SessionChanges,
  SessionListFilter,
  SessionPage,
  SessionRecord,
  SessionsRepository,
} from '../../src/sessions/sessions.repository.js';
import type { UserFields, UserRecord, UsersRepository } from '../../src/users/users.repository.js';

/** The transaction the fake database hands to services: repositories below ignore it. */
const FAKE_TX = Object.freeze({ fake: 'transaction' }) as unknown as Tx;

/** An ISO timestamp `seconds` after a fixed instant (the API's text form). */
export const at = (seconds = 0): string => new Date(Date.UTC(2026, 10, 26) + seconds * 1000).toISOString();

/** A caller (X-User-ID) with a fresh id, or the given one. */
export const caller = (userId: string = randomUUID()): AuthContext => ({ userId, via: 'header' });

/** The AppError (or other error) a promise rejects with; fails when it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected the promise to reject');
}

interface KeyRow {
  requestHash: string;
  state: IdempotencyState | null;
}

/**
 * The feature tables, in memory. `caller` is the user whose RLS context the running transaction has (null
 * outside one, or for anonymous legacy traffic); `rlsLeaks` makes reads ignore it, to check that a service
 * enforces ownership itself too.
 */
export class FakeStore {
  projects = new Map<string, ProjectRecord>();
  /** projectId -> userId -> joined at. */
  members = new Map<string, Map<string, string>>();
  /** Ids of users that exist (what app.user_exists sees). */
  users = new Set<string>();
  /** Users' profiles, for UsersRepository. */
  profiles = new Map<string, UserRecord>();
  sessions = new Map<string, SessionRecord>();
  /** In insertion order, which is the order of (created_at, seq). */
  messages: MessageRecord[] = [];
  /** `${userId}|${key}` -> row. */
  keys = new Map<string, KeyRow>();
  caller: string | null = null;
  rlsLeaks = false;
  private clock = 0;

  /** The next timestamp: every write happens a second after the one before. */
  tick(): string {
    this.clock += 1;
    return at(this.clock);
  }

  /** A project with its creator (or none) and members, as a test's starting data. */
  project(createdBy: string | null, ...memberIds: string[]): string {
    const projectId = randomUUID();
    const now = this.tick();
    this.projects.set(projectId, { projectId, title: 'p', createdBy, createdAt: now, updatedAt: now });
    this.members.set(projectId, new Map(memberIds.map((id) => [id, now])));
    return projectId;
  }

  /** A session of `userId` in `projectId`, as a test's starting data. */
  session(userId: string, projectId: string | null, fields: Partial<SessionRecord> = {}): SessionRecord {
    const now = this.tick();
    const session: SessionRecord = {
      sessionId: randomUUID(),
      userId,
      projectId,
      title: null,
      createdAt: now,
      updatedAt: now,
      lastMessageAt: now,
      isActive: true,
      messageCount: 0,
      lastMessagePreview: null,
      pinned: false,
      temporary: false,
      ...fields,
    };
    this.sessions.set(session.sessionId, session);
    return session;
  }

  /** A message, with the session's counters moved as the table's trigger moves them. */
  message(fields: NewMessage): MessageRecord {
    const now = this.tick();
    // A session's messages are one branch here (no tree): each follows the previous one.
    const earlier = this.messagesOf(fields.sessionId);
    const message: MessageRecord = {
      messageId: fields.messageId ?? randomUUID(),
      sessionId: fields.sessionId,
      turnId: fields.turnId ?? null,
      parentId: fields.parentId ?? earlier[earlier.length - 1]?.messageId ?? null,
      depth: earlier.length,
      role: fields.role,
      content: fields.content,
      metadata: fields.metadata ?? null,
      createdAt: now,
      updatedAt: now,
    };
    const session = this.sessions.get(fields.sessionId);
    if (!session) throw new Error(`foreign key: no session ${fields.sessionId}`);
    this.messages.push(message);
    this.sessions.set(session.sessionId, {
      ...session,
      messageCount: session.messageCount + 1,
      lastMessageAt: now,
      lastMessagePreview: fields.content.slice(0, 200),
    });
    return message;
  }

  messagesOf(sessionId: string): MessageRecord[] {
    return this.messages.filter((m) => m.sessionId === sessionId);
  }

  /** Whether the running transaction's caller may see a row owned by `userId`. */
  sees(userId: string | null): boolean {
    return this.rlsLeaks || (this.caller !== null && userId === this.caller);
  }

  isMember(projectId: string, userId: string | null): boolean {
    return userId !== null && (this.members.get(projectId)?.has(userId) ?? false);
  }

  snapshot(): unknown {
    const { projects, members, users, profiles, sessions, messages, keys } = this;
    return structuredClone({ projects, members, users, profiles, sessions, messages, keys });
  }

  restore(snapshot: unknown): void {
    Object.assign(this, snapshot);
  }
}

/**
 * DatabaseService over a FakeStore: each asUser/asNewUser/asLegacy runs its work in the caller's context
 * and, like a transaction, undoes every change when the work throws. `transactions` counts them.
 */
export class FakeDatabase {
  transactions = 0;

  constructor(readonly store: FakeStore) {}

  asUser<T>(auth: AuthContext, work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.run(auth.userId, work);
  }

  /** A read (a replica's, in the service): here the same store. */
  readAsUser<T>(auth: AuthContext, work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.run(auth.userId, work);
  }

  asNewUser<T>(userId: string, work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.run(userId, work);
  }

  asLegacy<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.run(null, work);
  }

  maintenance(): never {
    throw new Error('a service under test asked for the maintenance connection');
  }

  get service(): DatabaseService {
    return this as unknown as DatabaseService;
  }

  private async run<T>(userId: string | null, work: (tx: Tx) => Promise<T>): Promise<T> {
    this.transactions += 1;
    const before = this.store.snapshot();
    const outer = this.store.caller;
    this.store.caller = userId;
    try {
      return await work(FAKE_TX);
    } catch (error) {
      this.store.restore(before);
      throw error;
    } finally {
      this.store.caller = outer;
    }
  }
}

/** ProjectsRepository over a FakeStore: a project is visible to its members and its creator. */
export class FakeProjectsRepository {
  /** The last page asked of listForUser. */
  lastList?: { userId: string; limit: number; after: ProjectCursor | null };

  constructor(private readonly store: FakeStore) {}

  get repository(): ProjectsRepository {
    return this as unknown as ProjectsRepository;
  }

  private visible(projectId: string): ProjectRecord | undefined {
    const project = this.store.projects.get(projectId);
    if (!project) return undefined;
    const userId = this.store.caller;
    return this.store.rlsLeaks || project.createdBy === userId || this.store.isMember(projectId, userId)
      ? project
      : undefined;
  }

  async createForUser(_tx: Tx, userId: string, title: string | null): Promise<ProjectRecord> {
    const projectId = this.store.project(userId, userId);
    const project = { ...this.store.projects.get(projectId)!, title };
    this.store.projects.set(projectId, project);
    return project;
  }

  async createWithoutMembers(_tx: Tx, title: string | null): Promise<{ projectId: string }> {
    const projectId = this.store.project(null);
    this.store.projects.set(projectId, { ...this.store.projects.get(projectId)!, title });
    return { projectId };
  }

  async isVisible(_tx: Tx, projectId: string): Promise<boolean> {
    const project = this.store.projects.get(projectId);
    if (!project) return false;
    // The legacy role (no caller) sees only projects nobody is a member of.
    if (this.store.caller === null) return (this.store.members.get(projectId)?.size ?? 0) === 0;
    return this.visible(projectId) !== undefined;
  }

  async findById(_tx: Tx, projectId: string): Promise<ProjectRecord | null> {
    return this.visible(projectId) ?? null;
  }

  async isMember(_tx: Tx, projectId: string, userId: string): Promise<boolean> {
    return this.store.isMember(projectId, userId);
  }

  async findView(_tx: Tx, projectId: string, userId: string): Promise<ProjectView | null> {
    const project = this.visible(projectId);
    if (!project) return null;
    return {
      ...project,
      lastActivityAt: this.store.members.get(projectId)?.get(userId) ?? project.updatedAt,
    };
  }

  async listForUser(
    _tx: Tx,
    userId: string,
    limit: number,
    after: ProjectCursor | null,
  ): Promise<ProjectPage> {
    this.lastList = { userId, limit, after };
    const views = [...this.store.projects.values()]
      .filter((p) => this.store.isMember(p.projectId, userId))
      .map((p) => ({ ...p, lastActivityAt: this.store.members.get(p.projectId)!.get(userId)! }))
      .map((view) => ({ view, position: `${micros(view.lastActivityAt)}|${view.projectId}` }))
      .filter(({ position }) => !after || position < `${after.lastActivityAt}|${after.projectId}`)
      .sort((a, b) => b.position.localeCompare(a.position))
      .map(({ view }) => view);
    const page = views.slice(0, limit);
    const last = page[page.length - 1];
    return {
      projects: page,
      next:
        views.length > limit && last
          ? {
              lastActivityAt: micros(last.lastActivityAt),
              projectId: last.projectId,
            }
          : null,
    };
  }

  async updateTitle(_tx: Tx, projectId: string, title: string | null): Promise<boolean> {
    const project = this.visible(projectId);
    if (!project) return false;
    this.store.projects.set(projectId, { ...project, title, updatedAt: this.store.tick() });
    return true;
  }

  async delete(_tx: Tx, projectId: string): Promise<boolean> {
    if (!this.visible(projectId)) return false;
    this.store.projects.delete(projectId);
    this.store.members.delete(projectId);
    for (const session of [...this.store.sessions.values()]) {
      if (session.projectId === projectId) this.store.sessions.delete(session.sessionId);
    }
    return true;
  }

  async listMembers(_tx: Tx, projectId: string): Promise<MemberRecord[]> {
    if (!this.store.isMember(projectId, this.store.caller)) return [];
    return [...(this.store.members.get(projectId)?.keys() ?? [])].map((userId) =>
      this.member(projectId, userId)!,
    );
  }

  async findMember(_tx: Tx, projectId: string, userId: string): Promise<MemberRecord | null> {
    if (!this.store.isMember(projectId, this.store.caller)) return null;
    return this.member(projectId, userId);
  }

  private member(projectId: string, userId: string): MemberRecord | null {
    const joinedAt = this.store.members.get(projectId)?.get(userId);
    if (!joinedAt) return null;
    const isCreator = this.store.projects.get(projectId)?.createdBy === userId;
    return { userId, displayName: null, avatarUrl: null, isCreator, joinedAt };
  }

  async countMembers(_tx: Tx, projectId: string): Promise<number> {
    return this.store.members.get(projectId)?.size ?? 0;
  }

  async userExists(_tx: Tx, userId: string): Promise<boolean> {
    return this.store.users.has(userId);
  }

  async addMember(_tx: Tx, projectId: string, userId: string): Promise<AddMemberResult> {
    const members = this.store.members.get(projectId)!;
    if (members.has(userId)) return 'already_member';
    members.set(userId, this.store.tick());
    return 'added';
  }

  /** Ends a membership; the member's sessions in the project go too (the table's trigger). */
  async removeMember(_tx: Tx, projectId: string, userId: string): Promise<boolean> {
    const removed = this.store.members.get(projectId)?.delete(userId) ?? false;
    for (const session of [...this.store.sessions.values()]) {
      if (session.projectId === projectId && session.userId === userId) {
        this.store.sessions.delete(session.sessionId);
      }
    }
    return removed;
  }
}

/** SessionsRepository over a FakeStore: the caller sees their own sessions only (unless rlsLeaks). */
export class FakeSessionsRepository {
  /** The last filter asked of list. */
  lastList?: SessionListFilter;

  constructor(private readonly store: FakeStore) {}

  get repository(): SessionsRepository {
    return this as unknown as SessionsRepository;
  }

  async create(
    _tx: Tx,
    fields: { userId: string; projectId: string; title: string | null },
  ): Promise<SessionRecord> {
    if (!this.store.projects.has(fields.projectId)) throw new Error('foreign key: no such project');
    return this.store.session(fields.userId, fields.projectId, { title: fields.title });
  }

  async findById(_tx: Tx, sessionId: string): Promise<SessionRecord | null> {
    const session = this.store.sessions.get(sessionId.toLowerCase());
    return session && this.store.sees(session.userId) ? session : null;
  }

  /** Client chat ids are not kept here: none is known. */
  async findByClientChatId(): Promise<SessionRecord | null> {
    return null;
  }

  /** Sessions here are one branch: the leaf is always the newest message. */
  async setLeaf(): Promise<void> {}

  /** Newest last_message_at first; `next` is the page's last session when more follow. */
  async list(_tx: Tx, filter: SessionListFilter): Promise<SessionPage> {
    this.lastList = filter;
    const all = [...this.store.sessions.values()]
      .filter((s) => this.store.sees(s.userId) && s.userId === filter.userId)
      .filter((s) => filter.projectId === undefined || s.projectId === filter.projectId)
      .filter((s) => filter.isActive === undefined || s.isActive === filter.isActive)
      .sort(
        (a, b) => b.lastMessageAt.localeCompare(a.lastMessageAt) || b.sessionId.localeCompare(a.sessionId),
      )
      .filter((s) => !filter.after || position(s) < position(filter.after));
    const page = all.slice(0, filter.limit);
    const last = page[page.length - 1];
    return {
      sessions: page,
      next: all.length > filter.limit && last ? cursorOf(last) : null,
    };
  }

  async update(_tx: Tx, owned: OwnedSession, changes: SessionChanges): Promise<SessionRecord | null> {
    const session = this.store.sessions.get(owned.sessionId);
    if (!session || session.userId !== owned.userId || !this.store.sees(session.userId)) return null;
    const updated: SessionRecord = {
      ...session,
      ...(changes.title !== undefined ? { title: changes.title } : {}),
      ...(changes.isActive !== undefined ? { isActive: changes.isActive } : {}),
      updatedAt: this.store.tick(),
    };
    this.store.sessions.set(session.sessionId, updated);
    return updated;
  }

  async delete(_tx: Tx, owned: OwnedSession): Promise<boolean> {
    const session = this.store.sessions.get(owned.sessionId);
    if (!session || session.userId !== owned.userId || !this.store.sees(session.userId)) return false;
    this.store.sessions.delete(owned.sessionId);
    this.store.messages = this.store.messages.filter((m) => m.sessionId !== owned.sessionId);
    return true;
  }
}

/** A timestamp as PostgreSQL's text to the microsecond, as cursors carry it. */
function micros(value: Date | string): string {
  return (typeof value === 'string' ? value : value.toISOString()).replace('Z', '000Z');
}

/** A session's position in the list as the cursor carries it (microseconds, like PostgreSQL's text). */
function cursorOf(session: SessionRecord): SessionCursor {
  return {
    lastMessageAt: micros(session.lastMessageAt),
    sessionId: session.sessionId,
    pinned: session.pinned,
  };
}

function position(s: SessionRecord | SessionCursor): string {
  const lastMessageAt = 'userId' in s ? cursorOf(s).lastMessageAt : s.lastMessageAt;
  return `${lastMessageAt}|${s.sessionId}`;
}

/**
 * MessagesRepository over a FakeStore: messages of sessions the caller sees. `failPages` makes the next
 * page reads fail with the error (as get_session_messages raising P0002 for a foreign anchor).
 */
export class FakeMessagesRepository {
  /** Every window asked of page, in order. */
  windows: MessageWindow[] = [];
  failPages?: unknown;

  constructor(private readonly store: FakeStore) {}

  get repository(): MessagesRepository {
    return this as unknown as MessagesRepository;
  }

  private visible(sessionId: string): MessageRecord[] {
    const session = this.store.sessions.get(sessionId);
    return session && this.store.sees(session.userId) ? this.store.messagesOf(sessionId) : [];
  }

  async insert(_tx: Tx, message: NewMessage): Promise<MessageRecord> {
    const session = this.store.sessions.get(message.sessionId);
    if (!session || !this.store.sees(session.userId)) throw new Error('row-level security: not your session');
    return this.store.message(message);
  }

  /** Null unless the session is visible and `ownerId`'s, as MESSAGE_PAGE's lateral join (then no page is read). */
  async page(
    _tx: Tx,
    ownerId: string,
    sessionId: string,
    window: MessageWindow,
  ): Promise<{ total: number; messages: MessageRecord[]; hasMore: boolean } | null> {
    const session = this.store.sessions.get(sessionId.toLowerCase());
    if (!session || !this.store.sees(session.userId) || session.userId !== ownerId) return null;
    this.windows.push(window);
    if (this.failPages !== undefined) throw this.failPages;
    const all = this.visible(sessionId);
    const index = (id: string | undefined) => all.findIndex((m) => m.messageId === id);
    let candidates: MessageRecord[];
    let backwards = false;
    if (window.before !== undefined) {
      candidates = all.slice(0, index(window.before));
      backwards = true;
    } else if (window.after !== undefined) {
      candidates = all.slice(index(window.after) + 1);
    } else if (window.latest) {
      candidates = all;
      backwards = true;
    } else {
      candidates = all.slice(window.offset);
    }
    const hasMore = candidates.length > window.limit;
    const page = backwards ? candidates.slice(-window.limit) : candidates.slice(0, window.limit);
    const messages = page.map((m) => ({ ...m, siblingIds: [m.messageId] }));
    return { total: session.messageCount, messages, hasMore };
  }

  async findInSession(_tx: Tx, sessionId: string, messageId: string): Promise<MessageRecord | null> {
    return this.visible(sessionId).find((m) => m.messageId === messageId) ?? null;
  }

  async newestMessages(_tx: Tx, anchor: { messageId: string }): Promise<ContextEntry[]> {
    const sessionId = this.store.messages.find((m) => m.messageId === anchor.messageId)?.sessionId ?? '';
    return this.upTo(sessionId, anchor.messageId)
      .filter((m) => m.role !== 'system')
      .reverse()
      .map(({ role, content }) => ({ role, content }));
  }

  async systemMessages(_tx: Tx, sessionId: string, anchorMessageId: string): Promise<string[]> {
    return this.upTo(sessionId, anchorMessageId)
      .filter((m) => m.role === 'system')
      .map((m) => m.content);
  }

  private upTo(sessionId: string, anchorMessageId: string): MessageRecord[] {
    const all = this.visible(sessionId);
    return all.slice(0, all.findIndex((m) => m.messageId === anchorMessageId) + 1);
  }
}

/** IdempotencyKeysRepository over a FakeStore: the caller's own keys. */
export class FakeIdempotencyKeysRepository {
  constructor(private readonly store: FakeStore) {}

  get repository(): IdempotencyKeysRepository {
    return this as unknown as IdempotencyKeysRepository;
  }

  async insert(
    _tx: Tx,
    userId: string,
    key: string,
    requestHash: string,
    state: IdempotencyState,
  ): Promise<boolean> {
    const id = `${userId}|${key}`;
    if (this.store.keys.has(id)) return false;
    this.store.keys.set(id, { requestHash, state: structuredClone(state) });
    return true;
  }

  async lock(_tx: Tx, userId: string, key: string): Promise<IdempotencyRow | null> {
    const row = this.store.keys.get(`${userId}|${key}`);
    return row ? structuredClone(row) : null;
  }

  async update(_tx: Tx, userId: string, key: string, state: IdempotencyState): Promise<void> {
    const row = this.store.keys.get(`${userId}|${key}`);
    // Stored as jsonb: what comes back is the JSON of what went in.
    if (row) row.state = JSON.parse(JSON.stringify(state)) as IdempotencyState;
  }

  async delete(_tx: Tx, userId: string, key: string): Promise<void> {
    this.store.keys.delete(`${userId}|${key}`);
  }

  async purgeExpired(): Promise<number> {
    return 0;
  }
}

/** What a scripted model call does: send these deltas, then finish, fail, or wait for the abort signal. */
export interface ModelScript {
  deltas?: string[];
  end?: { finish: TokenUsage | null } | { fail: Error } | 'hang';
}

/**
 * A ChatModel that plays scripts, one per call (the last one repeats), and keeps every request it received.
 */
export class ScriptedModel implements ChatModel {
  readonly provider = 'builtin' as const;
  readonly modelId = 'scripted';
  readonly requests: { system: string; messages: ModelContext['messages'] }[] = [];
  private readonly scripts: ModelScript[];

  constructor(...scripts: ModelScript[]) {
    this.scripts = scripts.length > 0 ? scripts : [{ deltas: ['Hello', ' there'] }];
  }

  async *stream(request: ModelRequest): AsyncIterable<ModelEvent> {
    this.requests.push({ system: request.system, messages: request.messages });
    const script = this.scripts[Math.min(this.requests.length - 1, this.scripts.length - 1)];
    for (const delta of script.deltas ?? []) {
      await Promise.resolve();
      if (request.signal.aborted) throw request.signal.reason;
      yield { type: 'text', delta };
    }
    const end = script.end ?? { finish: { input_tokens: 3, output_tokens: 2, total_tokens: 5 } };
    if (end === 'hang') {
      await new Promise((_resolve, reject) => {
        if (request.signal.aborted) reject(request.signal.reason as Error);
        request.signal.addEventListener('abort', () => reject(request.signal.reason as Error), {
          once: true,
        });
      });
    }
    if (end !== 'hang' && 'fail' in end) throw end.fail;
    yield { type: 'finish', finishReason: 'stop', usage: end !== 'hang' ? end.finish : null };
  }
}

/** MetricsService's provider figures, kept in a list. */
export class FakeMetrics {
  calls: { provider: string; model: string; outcome: string }[] = [];

  get service(): MetricsService {
    return this as unknown as MetricsService;
  }

  recordProviderCall(provider: string, model: string, outcome: string): void {
    this.calls.push({ provider, model, outcome });
  }

  recordTokens(): void {}
}

/**
 * UsersRepository over a FakeStore: the caller sees and changes their own row only. `raceOnCreate` makes the
 * next createIfAbsent find the row created by a concurrent request (ON CONFLICT DO NOTHING: no row back).
 */
export class FakeUsersRepository {
  raceOnCreate?: UserFields;

  constructor(private readonly store: FakeStore) {}

  get repository(): UsersRepository {
    return this as unknown as UsersRepository;
  }

  private insert(userId: string, fields: UserFields): UserRecord {
    const now = this.store.tick();
    const user: UserRecord = {
      userId,
      email: fields.email ?? null,
      displayName: fields.displayName ?? null,
      avatarUrl: fields.avatarUrl ?? null,
      createdAt: now,
      updatedAt: now,
    };
    if ([...this.store.profiles.values()].some((u) => user.email !== null && u.email === user.email)) {
      throw Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' });
    }
    this.store.profiles.set(userId, user);
    this.store.users.add(userId);
    return user;
  }

  async create(_tx: Tx, userId: string, fields: UserFields): Promise<UserRecord> {
    if (this.store.profiles.has(userId)) {
      throw Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' });
    }
    return this.insert(userId, fields);
  }

  async createIfAbsent(_tx: Tx, userId: string, fields: UserFields): Promise<UserRecord | null> {
    if (this.raceOnCreate) {
      this.insert(userId, this.raceOnCreate);
      this.raceOnCreate = undefined;
    }
    return this.store.profiles.has(userId) ? null : this.insert(userId, fields);
  }

  async findById(_tx: Tx, userId: string): Promise<UserRecord | null> {
    return this.store.sees(userId) ? (this.store.profiles.get(userId) ?? null) : null;
  }

  async update(_tx: Tx, userId: string, fields: UserFields): Promise<UserRecord> {
    const user = this.store.profiles.get(userId);
    if (!user || !this.store.sees(userId)) throw new Error('Record to update not found');
    const changed: UserRecord = {
      ...user,
      ...Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)),
      updatedAt: this.store.tick(),
    };
    this.store.profiles.set(userId, changed);
    return changed;
  }

  /** The user and the projects they created that nobody else belongs to; their sessions go by cascade. */
  async deleteWithOwnedProjects(_tx: Tx, userId: string): Promise<boolean> {
    if (!this.store.profiles.has(userId) || !this.store.sees(userId)) return false;
    for (const [projectId, project] of [...this.store.projects]) {
      const others = [...(this.store.members.get(projectId)?.keys() ?? [])].filter((id) => id !== userId);
      if (project.createdBy === userId && others.length === 0) {
        this.store.projects.delete(projectId);
        this.store.members.delete(projectId);
      }
    }
    for (const members of this.store.members.values()) members.delete(userId);
    for (const [sessionId, session] of [...this.store.sessions]) {
      if (session.userId === userId) this.store.sessions.delete(sessionId);
    }
    this.store.messages = this.store.messages.filter((m) => this.store.sessions.has(m.sessionId));
    this.store.profiles.delete(userId);
    this.store.users.delete(userId);
    return true;
  }
}
