import { ChatInstance } from '../src/chat/chat-instance.js';
import { randomUUID } from 'node:crypto';
import { sqlStateOf } from '../src/common/sql-errors.js';
import { APP_ROLE, LEGACY_ROLE, prismaOf, type Tx } from '../src/database/database.service.js';
import { createTestApp, DATABASE_KIND, type TestApp } from './support/test-app.js';

/**
 * The policy matrix: every table × every operation (and the update of each column that matters) × who asks,
 * run as SQL in the request roles' own transactions (role and caller set as DatabaseService sets them),
 * underneath every service. Each cell is rolled back, so the cells are independent of each other and of order.
 *
 * Who asks, about the rows under test:
 * - owner: O, a plain member of project P who owns the rows under test (O's user row, session SO, message MO,
 *   turn TO, idempotency key, membership);
 * - member: M, another plain member of P (and of N);
 * - creator: C, who created P (and is a member of it);
 * - stranger: S, a user in none of those projects (with a project Q of their own);
 * - anonymous: the legacy role parley_legacy (anonymous POST /chat), no caller.
 *
 * Outcomes: 'Y' the statement reached the row (read it, or changed it); '0' it ran and reached nothing (RLS
 * hid the row); 'E' it was refused with 42501 (no privilege, a WITH CHECK policy, or a guard trigger); '-' the
 * cell means nothing (e.g. a member adding themselves to their own project). Any other outcome (another
 * error) fails the cell. A case in which nobody reaches the row runs once more as the migrating role (which
 * bypasses RLS) and must reach it then, so no '0' passes because the statement missed its target.
 */

type Actor = 'owner' | 'member' | 'creator' | 'stranger' | 'anonymous';
type Outcome = 'Y' | '0' | 'E' | '-';
const ACTORS: readonly Actor[] = ['owner', 'member', 'creator', 'stranger', 'anonymous'];

interface Case {
  table: string;
  op: 'select' | 'insert' | 'update' | 'delete';
  what: string;
  /** SQL with {placeholders}: {me} is the asking user (a user id that exists nowhere, for anonymous). */
  sql: string;
  /** owner, member, creator, stranger, anonymous. */
  expect: [Outcome, Outcome, Outcome, Outcome, Outcome];
  /**
   * Who the migrating-role control run acts as ({me}) when no cell is 'Y'; `{ none: reason }` where the
   * statement cannot succeed even bypassing RLS (a key others reference): it must then fail on that constraint.
   */
  control?: Actor | { none: string; sqlstate?: string };
}

const ids = {
  O: randomUUID(),
  M: randomUUID(),
  C: randomUUID(),
  S: randomUUID(),
  /** A user in no project: the one members add. */
  X: randomUUID(),
  /** Stands for the anonymous caller in {me}: names no user. */
  anon: randomUUID(),
  /** A fresh id for rows a cell creates (every cell is rolled back, so one is enough). */
  new: randomUUID(),
  /** P: created by C; members C, M, O. */
  P: randomUUID(),
  /** N: without a creator (a legacy dossier, or its creator deleted their account); members O and M. */
  N: randomUUID(),
  /** N1: without a creator, O its only member. */
  N1: randomUUID(),
  /** L: a legacy dossier nobody is a member of (the anonymous role's). */
  L: randomUUID(),
  /** Q: the stranger's own project. */
  Q: randomUUID(),
  /** O's sessions in P and in N. */
  SO: randomUUID(),
  SN: randomUUID(),
  MO: randomUUID(),
  /**
   * The reply being generated in SO (an assistant message id), and the instance generating it: the test
   * app's own (set in beforeAll), whose heartbeat keeps it from being finished as interrupted meanwhile
   * (and GO starts in the future, so the instance does not take it for a reply of its own that it lost).
   */
  GO: randomUUID(),
  I: '',
  /** O's own turn in P, recorded in SO, its reply not written yet. */
  TO: randomUUID(),
  /** An unattributed (legacy) turn of P. */
  TU: randomUUID(),
  /** An anonymous turn of L, its reply not written yet. */
  TL: randomUUID(),
  /** O's API key. */
  KO: randomUUID(),
  /** An entry of the admin audit log. */
  AU: randomUUID(),
  /** O's identity at an OpenID Connect provider (subject). */
  EO: randomUUID(),
  /** O's import (of a conversation into SO). */
  IO: randomUUID(),
};
const actorId: Record<Actor, string> = {
  owner: ids.O,
  member: ids.M,
  creator: ids.C,
  stranger: ids.S,
  anonymous: ids.anon,
};

const OPS = ['select', 'insert', 'update', 'delete'] as const;

/** One row of the matrix: `expect` is five outcomes, for owner, member, creator, stranger and anonymous. */
function c(
  table: string,
  op: Case['op'],
  expect: string,
  what: string,
  sql: string,
  control?: Case['control'],
): Case {
  const outcomes = [...expect] as Outcome[];
  if (outcomes.length !== ACTORS.length || outcomes.some((o) => !['Y', '0', 'E', '-'].includes(o)))
    throw new Error(`bad expectations '${expect}' for ${table} ${op} ${what}`);
  return { table, op, what, sql, expect: outcomes as Case['expect'], control };
}

// prettier-ignore
const CASES: Case[] = [
  // table               op        OMCSA    what, SQL[, control: who the migrating role acts as, where no cell is Y]

  // users: O's row.
  c('users',             'select', 'Y000E', "O's row", `SELECT 1 AS one FROM users WHERE user_id = '{O}'`),
  c('users',             'update', 'Y000E', "display_name of O's row", `UPDATE users SET display_name = 'x' WHERE user_id = '{O}'`),
  c('users',             'update', 'E000E', "user_id of O's row", `UPDATE users SET user_id = '{new}' WHERE user_id = '{O}'`, { none: 'sessions and memberships reference the id' }),
  c('users',             'delete', 'Y000E', "O's row", `DELETE FROM users WHERE user_id = '{O}'`),
  c('users',             'insert', 'EEEEE', 'a row with a new id (not the caller)', `INSERT INTO users (user_id) VALUES ('{new}')`, 'stranger'),

  // dossier: P (created by C), N (no creator), L (no members).
  c('dossier',           'select', 'YYY00', 'P', `SELECT 1 AS one FROM dossier WHERE project_id = '{P}'`),
  c('dossier',           'update', 'YYY00', 'title of P', `UPDATE dossier SET title = 'x' WHERE project_id = '{P}'`),
  c('dossier',           'update', 'EE-00', 'created_by of P to the caller (claiming it)', `UPDATE dossier SET created_by = '{me}' WHERE project_id = '{P}'`, 'owner'),
  c('dossier',           'update', 'E-E00', 'created_by of P to M (handing it over)', `UPDATE dossier SET created_by = '{M}' WHERE project_id = '{P}'`, 'owner'),
  c('dossier',           'update', 'EEE00', 'project_id of P', `UPDATE dossier SET project_id = '{new}' WHERE project_id = '{P}'`, { none: 'memberships, sessions and turns reference the id' }),
  c('dossier',           'delete', '00Y0E', 'P', `DELETE FROM dossier WHERE project_id = '{P}'`),
  c('dossier',           'insert', 'YYYYE', 'a project created by the caller', `INSERT INTO dossier (project_id, title, created_by) VALUES ('{new}', 't', '{me}')`),
  c('dossier',           'insert', 'EE-EE', 'a project created by C', `INSERT INTO dossier (project_id, title, created_by) VALUES ('{new}', 't', '{C}')`, 'creator'),
  c('dossier',           'insert', 'EEEEY', 'a dossier without a creator', `INSERT INTO dossier (project_id, title) VALUES ('{new}', 't')`),
  c('dossier',           'update', 'YY000', 'title of N (no creator)', `UPDATE dossier SET title = 'x' WHERE project_id = '{N}'`),
  c('dossier',           'update', 'EE000', 'created_by of N to the caller (claiming it)', `UPDATE dossier SET created_by = '{me}' WHERE project_id = '{N}'`, 'owner'),
  c('dossier',           'delete', 'YY00E', 'N (no creator)', `DELETE FROM dossier WHERE project_id = '{N}'`),
  c('dossier',           'select', '0000Y', 'L (no members)', `SELECT 1 AS one FROM dossier WHERE project_id = '{L}'`),
  c('dossier',           'update', '0000E', 'title of L (no members)', `UPDATE dossier SET title = 'x' WHERE project_id = '{L}'`, 'owner'),
  c('dossier',           'update', '0000E', 'created_by of L to O (claiming it)', `UPDATE dossier SET created_by = '{O}' WHERE project_id = '{L}'`, 'owner'),
  c('dossier',           'delete', '0000E', 'L (no members)', `DELETE FROM dossier WHERE project_id = '{L}'`, 'owner'),

  // user_projects: memberships of P (C, M, O), N (O, M), N1 (O).
  c('user_projects',     'select', 'YYY0E', "O's membership of P", `SELECT 1 AS one FROM user_projects WHERE user_id = '{O}' AND project_id = '{P}'`),
  c('user_projects',     'insert', 'YYYEE', 'X into P (adding a member)', `INSERT INTO user_projects (user_id, project_id) VALUES ('{X}', '{P}')`),
  c('user_projects',     'insert', '---EE', 'the caller into P (joining)', `INSERT INTO user_projects (user_id, project_id) VALUES ('{me}', '{P}')`, 'stranger'),
  c('user_projects',     'insert', '--EEE', 'the caller into N (joining)', `INSERT INTO user_projects (user_id, project_id) VALUES ('{me}', '{N}')`, 'creator'),
  c('user_projects',     'insert', 'EEEEE', 'the caller into L (claiming a dossier without members)', `INSERT INTO user_projects (user_id, project_id) VALUES ('{me}', '{L}')`, 'stranger'),
  c('user_projects',     'update', '0000E', "last_activity_at of O's membership of P", `UPDATE user_projects SET last_activity_at = now() + interval '1 year' WHERE user_id = '{O}' AND project_id = '{P}'`, 'owner'),
  c('user_projects',     'update', '0000E', "project_id of O's membership (P to Q)", `UPDATE user_projects SET project_id = '{Q}' WHERE user_id = '{O}' AND project_id = '{P}'`, 'owner'),
  c('user_projects',     'delete', 'Y0Y0E', "O's membership of P (O leaves, or is removed)", `DELETE FROM user_projects WHERE user_id = '{O}' AND project_id = '{P}'`),
  c('user_projects',     'delete', '0000E', "C's membership of P (the creator leaves, or is removed)", `DELETE FROM user_projects WHERE user_id = '{C}' AND project_id = '{P}'`, 'creator'),
  c('user_projects',     'delete', 'YY00E', "O's membership of N (no creator; M stays)", `DELETE FROM user_projects WHERE user_id = '{O}' AND project_id = '{N}'`),
  c('user_projects',     'delete', '0000E', "O's membership of N1 (no creator; the last member)", `DELETE FROM user_projects WHERE user_id = '{O}' AND project_id = '{N1}'`, 'owner'),

  // sessions: SO, O's session in P.
  c('sessions',          'select', 'Y000E', 'SO', `SELECT 1 AS one FROM sessions WHERE session_id = '{SO}'`),
  c('sessions',          'update', 'Y000E', 'title of SO', `UPDATE sessions SET title = 'x' WHERE session_id = '{SO}'`),
  c('sessions',          'update', 'E000E', 'user_id of SO (to M)', `UPDATE sessions SET user_id = '{M}' WHERE session_id = '{SO}'`, 'owner'),
  c('sessions',          'update', 'E000E', 'project_id of SO (to Q, which O is not in)', `UPDATE sessions SET project_id = '{Q}' WHERE session_id = '{SO}'`, 'owner'),
  c('sessions',          'update', 'Y000E', 'project_id of SO (to N, which O is in)', `UPDATE sessions SET project_id = '{N}' WHERE session_id = '{SO}'`),
  c('sessions',          'delete', 'Y000E', 'SO', `DELETE FROM sessions WHERE session_id = '{SO}'`),
  c('sessions',          'insert', 'YYYEE', "the caller's session in P", `INSERT INTO sessions (user_id, project_id) VALUES ('{me}', '{P}')`),
  c('sessions',          'insert', 'YEEEE', "O's session in P", `INSERT INTO sessions (user_id, project_id) VALUES ('{O}', '{P}')`),
  c('sessions',          'insert', 'EEEEE', "the caller's session in L (no members)", `INSERT INTO sessions (user_id, project_id) VALUES ('{me}', '{L}')`, 'stranger'),

  // chat_messages: MO, in SO.
  c('chat_messages',     'select', 'Y000E', 'MO', `SELECT 1 AS one FROM chat_messages WHERE message_id = '{MO}'`),
  c('chat_messages',     'update', 'Y000E', 'content of MO', `UPDATE chat_messages SET content = 'x' WHERE message_id = '{MO}'`),
  c('chat_messages',     'update', 'E000E', 'user_id of MO (to M)', `UPDATE chat_messages SET user_id = '{M}' WHERE message_id = '{MO}'`, { none: "the (session, owner) key refuses a message naming another owner than its session's" }),
  c('chat_messages',     'delete', 'Y000E', 'MO', `DELETE FROM chat_messages WHERE message_id = '{MO}'`),
  c('chat_messages',     'insert', 'YEEEE', 'a message into SO', `INSERT INTO chat_messages (session_id, role, content) VALUES ('{SO}', 'user', 'x')`),
  c('chat_messages',     'insert', 'YEEEE', 'a message into SO naming O', `INSERT INTO chat_messages (session_id, user_id, role, content) VALUES ('{SO}', '{O}', 'user', 'x')`),

  // turns: TO (O's own, in SO), TU (unattributed, in P), TL (anonymous, in L).
  c('turns',             'select', 'Y0000', "TO (O's own)", `SELECT 1 AS one FROM turns WHERE turn_id = '{TO}'`),
  c('turns',             'update', 'Y0000', 'assistant_text of TO (its reply)', `UPDATE turns SET assistant_text = 'x' WHERE turn_id = '{TO}'`),
  c('turns',             'update', 'E0000', 'user_text of TO', `UPDATE turns SET user_text = 'x' WHERE turn_id = '{TO}'`, 'owner'),
  c('turns',             'update', 'E0000', 'user_id of TO (disowning it)', `UPDATE turns SET user_id = NULL WHERE turn_id = '{TO}'`, 'owner'),
  c('turns',             'update', 'E0000', 'session_id of TO', `UPDATE turns SET session_id = NULL WHERE turn_id = '{TO}'`, 'owner'),
  c('turns',             'delete', 'Y000E', "TO (O's own)", `DELETE FROM turns WHERE turn_id = '{TO}'`),
  c('turns',             'select', 'YYY00', 'TU (unattributed, in P)', `SELECT 1 AS one FROM turns WHERE turn_id = '{TU}'`),
  c('turns',             'update', '00000', 'user_text of TU (rewriting it)', `UPDATE turns SET user_text = 'x' WHERE turn_id = '{TU}'`, 'owner'),
  c('turns',             'update', '00000', 'user_id of TU to the caller (claiming it)', `UPDATE turns SET user_id = '{me}' WHERE turn_id = '{TU}'`, 'owner'),
  c('turns',             'update', '00000', 'assistant_text of TU', `UPDATE turns SET assistant_text = 'x' WHERE turn_id = '{TU}'`, 'owner'),
  c('turns',             'delete', '0000E', 'TU (unattributed, in P)', `DELETE FROM turns WHERE turn_id = '{TU}'`, 'owner'),
  c('turns',             'select', '0000Y', 'TL (anonymous, in L)', `SELECT 1 AS one FROM turns WHERE turn_id = '{TL}'`),
  c('turns',             'update', '0000Y', 'assistant_text of TL (its reply)', `UPDATE turns SET assistant_text = 'x' WHERE turn_id = '{TL}'`),
  c('turns',             'update', '0000E', 'user_text of TL', `UPDATE turns SET user_text = 'x' WHERE turn_id = '{TL}'`, 'owner'),
  c('turns',             'update', '0000E', 'user_id of TL to O (attributing it)', `UPDATE turns SET user_id = '{O}' WHERE turn_id = '{TL}'`, 'owner'),
  c('turns',             'delete', '0000E', 'TL (anonymous, in L)', `DELETE FROM turns WHERE turn_id = '{TL}'`, 'owner'),
  c('turns',             'insert', 'YYYEE', "the caller's turn in P", `INSERT INTO turns (project_id, user_text, user_id) VALUES ('{P}', 'x', '{me}')`),
  c('turns',             'insert', 'YEEEE', "the caller's turn in P recorded in SO (O's session in P)", `INSERT INTO turns (project_id, user_text, user_id, session_id) VALUES ('{P}', 'x', '{me}', '{SO}')`),
  c('turns',             'insert', 'EEEEE', "the caller's turn in P recorded in SN (O's session in N)", `INSERT INTO turns (project_id, user_text, user_id, session_id) VALUES ('{P}', 'x', '{me}', '{SN}')`, 'owner'),
  c('turns',             'insert', 'EEEEE', 'an unattributed turn in P', `INSERT INTO turns (project_id, user_text) VALUES ('{P}', 'x')`, 'owner'),
  c('turns',             'insert', 'EEEEY', 'an anonymous turn in L', `INSERT INTO turns (project_id, user_text) VALUES ('{L}', 'x')`),
  c('turns',             'insert', 'EEEEE', "the caller's turn in L", `INSERT INTO turns (project_id, user_text, user_id) VALUES ('{L}', 'x', '{me}')`, 'stranger'),

  // idempotency_keys: O's key 'k'.
  c('idempotency_keys',  'select', 'Y000E', "O's key", `SELECT 1 AS one FROM idempotency_keys WHERE user_id = '{O}' AND key = 'k'`),
  c('idempotency_keys',  'update', 'Y000E', "response of O's key", `UPDATE idempotency_keys SET response = '{}'::jsonb WHERE user_id = '{O}' AND key = 'k'`),
  c('idempotency_keys',  'update', 'E000E', "user_id of O's key (to M)", `UPDATE idempotency_keys SET user_id = '{M}' WHERE user_id = '{O}' AND key = 'k'`, 'owner'),
  c('idempotency_keys',  'delete', 'Y000E', "O's key", `DELETE FROM idempotency_keys WHERE user_id = '{O}' AND key = 'k'`),
  c('idempotency_keys',  'insert', 'YYYYE', "the caller's key", `INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ('{me}', 'new', 'h')`),
  c('idempotency_keys',  'insert', 'YEEEE', "a key of O's", `INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ('{O}', 'new', 'h')`),

  // users: the columns only administrators change (role, disabled_at): not even the owner (issue 13 §4).
  c('users',             'update', 'E000E', "role of O's row (to admin)", `UPDATE users SET role = 'admin' WHERE user_id = '{O}'`, 'owner'),
  c('users',             'update', 'E000E', "disabled_at of O's row", `UPDATE users SET disabled_at = now() WHERE user_id = '{O}'`, 'owner'),
  c('users',             'insert', 'EEEEE', "the caller's own row as an admin", `INSERT INTO users (user_id, role) VALUES ('{new}', 'admin')`, 'stranger'),

  // api_keys: KO, O's key. The secret's hash is not readable by request roles at all.
  c('api_keys',          'select', 'Y000E', 'KO', `SELECT key_id FROM api_keys WHERE key_id = '{KO}'`),
  c('api_keys',          'select', 'EEEEE', "KO's secret_hash", `SELECT secret_hash FROM api_keys WHERE key_id = '{KO}'`, 'owner'),
  c('api_keys',          'update', 'EEEEE', 'scopes of KO', `UPDATE api_keys SET scopes = ARRAY['read','write','chat'] WHERE key_id = '{KO}'`, 'owner'),
  c('api_keys',          'delete', 'Y000E', 'KO (revoking it)', `DELETE FROM api_keys WHERE key_id = '{KO}'`),
  c('api_keys',          'insert', 'YYYYE', "a key of the caller's", `INSERT INTO api_keys (user_id, name, prefix, secret_hash, scopes) VALUES ('{me}', 'k', 'pk_policymatrix1', '\\x01', ARRAY['read'])`),
  c('api_keys',          'insert', 'YEEEE', "a key of O's", `INSERT INTO api_keys (user_id, name, prefix, secret_hash, scopes) VALUES ('{O}', 'k', 'pk_policymatrix1', '\\x01', ARRAY['read'])`),

  // admin_audit: only the admin role (test/admin.e2e-spec.ts) reads and appends; nobody updates or deletes.
  c('admin_audit',       'select', 'EEEEE', 'the log', `SELECT 1 AS one FROM admin_audit`, 'owner'),
  c('admin_audit',       'insert', 'EEEEE', 'an entry', `INSERT INTO admin_audit (actor_id, action) VALUES ('{me}', 'forged')`, 'owner'),
  c('admin_audit',       'update', 'EEEEE', 'AU', `UPDATE admin_audit SET action = 'x' WHERE audit_id = '{AU}'`, { none: 'append-only: the trigger refuses every role', sqlstate: '42501' }),
  c('admin_audit',       'delete', 'EEEEE', 'AU', `DELETE FROM admin_audit WHERE audit_id = '{AU}'`, { none: 'append-only: the trigger refuses every role', sqlstate: '42501' }),
  // imports: O's import IO; imported_conversations: O's conversation 'c1' imported as SO.
  c('imports',           'select', 'Y000E', "O's import", `SELECT 1 AS one FROM imports WHERE import_id = '{IO}'`),
  c('imports',           'update', 'Y000E', "status of O's import", `UPDATE imports SET status = 'failed' WHERE import_id = '{IO}'`),
  c('imports',           'update', 'E000E', "user_id of O's import (to M)", `UPDATE imports SET user_id = '{M}' WHERE import_id = '{IO}'`, 'owner'),
  c('imports',           'delete', 'EEEEE', "O's import (no request role deletes imports)", `DELETE FROM imports WHERE import_id = '{IO}'`, 'owner'),
  c('imports',           'insert', 'YYYYE', "the caller's import", `INSERT INTO imports (user_id, source, file_kind, file_bytes) VALUES ('{me}', 'chatgpt', 'json', 1)`),
  c('imports',           'insert', 'YEEEE', 'an import of O\'s', `INSERT INTO imports (user_id, source, file_kind, file_bytes) VALUES ('{O}', 'chatgpt', 'json', 1)`),
  c('imported_conversations', 'select', 'Y000E', "O's imported conversation", `SELECT 1 AS one FROM imported_conversations WHERE user_id = '{O}' AND conversation_id = 'c1'`),
  c('imported_conversations', 'insert', 'YEEEE', "a conversation of O's imported as SO", `INSERT INTO imported_conversations (user_id, conversation_id, session_id, import_id) VALUES ('{O}', 'c2', '{SO}', '{IO}')`),
  c('imported_conversations', 'update', 'EEEEE', "O's imported conversation (no request role changes them)", `UPDATE imported_conversations SET conversation_id = 'x' WHERE user_id = '{O}'`, 'owner'),
  c('imported_conversations', 'delete', 'EEEEE', "O's imported conversation (no request role deletes them)", `DELETE FROM imported_conversations WHERE user_id = '{O}'`, 'owner'),

  // chat_generations, chat_generation_chunks: GO, a reply to MO being generated in SO, with one chunk.
  c('chat_generations',  'select', 'Y000E', 'GO', `SELECT 1 AS one FROM chat_generations WHERE message_id = '{GO}'`),
  c('chat_generations',  'update', 'Y000E', 'stop_requested_at of GO (a stop)', `UPDATE chat_generations SET stop_requested_at = now() WHERE message_id = '{GO}'`),
  c('chat_generations',  'delete', 'Y000E', 'GO', `DELETE FROM chat_generations WHERE message_id = '{GO}'`),
  c('chat_generations',  'insert', 'YEEEE', "a reply in O's session SO", `INSERT INTO chat_generations (message_id, session_id, user_id, user_message_id, instance_id, provider, model) VALUES ('{new}', '{SO}', '{O}', '{MO}', '{I}', 'p', 'm')`),
  c('chat_generation_chunks', 'select', 'Y000E', "GO's chunk", `SELECT 1 AS one FROM chat_generation_chunks WHERE message_id = '{GO}'`),
  c('chat_generation_chunks', 'delete', 'Y000E', "GO's chunk", `DELETE FROM chat_generation_chunks WHERE message_id = '{GO}'`),
  c('chat_generation_chunks', 'insert', 'EEEEE', 'a chunk of GO (only the batched writer, on the maintenance path)', `INSERT INTO chat_generation_chunks (message_id, seq, user_id, delta) VALUES ('{GO}', 1, '{O}', 'x')`, 'owner'),
  c('chat_generation_chunks', 'update', 'EEEEE', "GO's chunk", `UPDATE chat_generation_chunks SET delta = 'x' WHERE message_id = '{GO}'`, 'owner'),
  // chat_instances: heartbeats, out of reach of request roles.
  c('chat_instances',    'select', 'EEEEE', 'the instances', `SELECT 1 AS one FROM chat_instances`, 'owner'),
  c('chat_instances',    'insert', 'EEEEE', 'an instance', `INSERT INTO chat_instances (instance_id) VALUES ('{new}')`, 'owner'),
  c('chat_instances',    'update', 'EEEEE', 'the heartbeats', `UPDATE chat_instances SET heartbeat_at = now()`, 'owner'),
  c('chat_instances',    'delete', 'EEEEE', 'the instances', `DELETE FROM chat_instances`, 'owner'),

  // external_identities: O's identity. Owners read their own; only app.oidc_sign_in() writes.
  c('external_identities', 'select', 'Y000E', "O's identity", `SELECT 1 AS one FROM external_identities WHERE subject = '{EO}'`),
  c('external_identities', 'insert', 'EEEEE', "an identity of the caller's", `INSERT INTO external_identities (issuer, subject, user_id) VALUES ('https://idp.example.test', 'new', '{me}')`, 'owner'),
  c('external_identities', 'update', 'EEEEE', "user_id of O's identity (to the caller)", `UPDATE external_identities SET user_id = '{me}' WHERE subject = '{EO}'`, 'member'),
  c('external_identities', 'delete', 'EEEEE', "O's identity", `DELETE FROM external_identities WHERE subject = '{EO}'`, 'owner'),

  // admin_emails: ADMIN_EMAILS, written at start through the maintenance path; no request role reaches it.
  c('admin_emails',      'select', 'EEEEE', 'the list', `SELECT 1 AS one FROM admin_emails`, 'owner'),
  c('admin_emails',      'insert', 'EEEEE', "the caller's email", `INSERT INTO admin_emails (email) VALUES ('me@example.test')`, 'owner'),
  c('admin_emails',      'update', 'EEEEE', 'an entry', `UPDATE admin_emails SET email = 'me@example.test'`, 'owner'),
  c('admin_emails',      'delete', 'EEEEE', 'the list', `DELETE FROM admin_emails`, 'owner'),

  // legacy_imports: the importer's ledger, out of reach of request roles.
  c('legacy_imports',    'select', 'EEEEE', 'the ledger', `SELECT 1 AS one FROM legacy_imports`, 'owner'),
  c('legacy_imports',    'insert', 'EEEEE', 'a ledger row', `INSERT INTO legacy_imports (project_id, user_id, session_id, owner_created) VALUES ('{new}', '{me}', '{new}', false)`, 'owner'),
  c('legacy_imports',    'update', 'EEEEE', 'a ledger row', `UPDATE legacy_imports SET user_id = '{me}'`, 'owner'),
  c('legacy_imports',    'delete', 'EEEEE', 'the ledger', `DELETE FROM legacy_imports`, 'owner'),

  // message_search: MO's words (written by chat_messages' triggers only; read by its owner's searches).
  c('message_search',    'select', 'Y000E', "MO's row", `SELECT 1 AS one FROM message_search WHERE message_id = '{MO}'`),
  c('message_search',    'insert', 'EEEEE', 'a row for MO', `INSERT INTO message_search (message_id, user_id, session_id, role, created_at, vector) VALUES ('{MO}', '{me}', '{SO}', 'user', now(), 'x')`, { none: 'MO has its row already (the primary key)' }),
  c('message_search',    'update', 'EEEEE', "vector of MO's row", `UPDATE message_search SET vector = 'x' WHERE message_id = '{MO}'`, 'owner'),
  c('message_search',    'update', 'EEEEE', "user_id of MO's row (to the caller)", `UPDATE message_search SET user_id = '{me}' WHERE message_id = '{MO}'`, 'owner'),
  c('message_search',    'delete', 'EEEEE', "MO's row (hiding it from search)", `DELETE FROM message_search WHERE message_id = '{MO}'`, 'owner'),

  // retention_settings: retention hours and days, out of reach of request roles.
  c('retention_settings', 'select', 'EEEEE', 'the settings', `SELECT 1 AS one FROM retention_settings`, 'owner'),
  c('retention_settings', 'insert', 'EEEEE', 'a second row', `INSERT INTO retention_settings (singleton) VALUES (true)`, { none: 'one row only (the primary key)' }),
  c('retention_settings', 'update', 'EEEEE', 'the days', `UPDATE retention_settings SET session_days = 1`, 'owner'),
  c('retention_settings', 'delete', 'EEEEE', 'the settings', `DELETE FROM retention_settings`, 'owner'),

  // search_settings: the search language, out of reach of request roles.
  c('search_settings',   'select', 'EEEEE', 'the setting', `SELECT 1 AS one FROM search_settings`, 'owner'),
  c('search_settings',   'insert', 'EEEEE', 'a second setting', `INSERT INTO search_settings (singleton, language) VALUES (true, 'english')`, { none: 'one row only (the primary key)' }),
  c('search_settings',   'update', 'EEEEE', 'the language', `UPDATE search_settings SET language = 'english'`, 'owner'),
  c('search_settings',   'delete', 'EEEEE', 'the setting', `DELETE FROM search_settings`, 'owner'),

];

function fill(sql: string, me: string): string {
  return sql.replace(/\{(\w+)\}/g, (_, name: string) => {
    if (name === 'me') return me;
    const value = (ids as Record<string, string>)[name];
    if (!value) throw new Error(`unknown placeholder {${name}} in ${sql}`);
    return value;
  });
}

const ROLLBACK = new Error('rollback');

describe(`the policy matrix, every table × operation × who asks (${DATABASE_KIND})`, () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp();
    ids.I = t.app.get(ChatInstance).id;
    // Arranged through the maintenance path, which bypasses RLS.
    await t.sql.exec(
      fill(
        `
      INSERT INTO users (user_id, email, display_name) VALUES
        ('{O}', 'o-{O}@example.test', 'O'), ('{M}', 'm-{M}@example.test', 'M'), ('{C}', 'c-{C}@example.test', 'C'),
        ('{S}', 's-{S}@example.test', 'S'), ('{X}', 'x-{X}@example.test', 'X');
      INSERT INTO dossier (project_id, title, created_by) VALUES
        ('{P}', 'P', '{C}'), ('{N}', 'N', NULL), ('{N1}', 'N1', NULL), ('{L}', 'L', NULL), ('{Q}', 'Q', '{S}');
      INSERT INTO user_projects (user_id, project_id) VALUES
        ('{C}', '{P}'), ('{M}', '{P}'), ('{O}', '{P}'), ('{O}', '{N}'), ('{M}', '{N}'), ('{O}', '{N1}'), ('{S}', '{Q}');
      INSERT INTO sessions (session_id, user_id, project_id, title) VALUES
        ('{SO}', '{O}', '{P}', 'SO'), ('{SN}', '{O}', '{N}', 'SN');
      INSERT INTO chat_messages (message_id, session_id, role, content) VALUES ('{MO}', '{SO}', 'user', 'from O');
      INSERT INTO turns (turn_id, project_id, user_text, assistant_text, user_id, session_id) VALUES
        ('{TO}', '{P}', 'O asks', NULL, '{O}', '{SO}'),
        ('{TU}', '{P}', 'legacy', 'legacy reply', NULL, NULL),
        ('{TL}', '{L}', 'anonymous', NULL, NULL, NULL);
      INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ('{O}', 'k', 'h');
      INSERT INTO api_keys (key_id, user_id, name, prefix, secret_hash, scopes)
        VALUES ('{KO}', '{O}', 'O''s key', 'pk_policymatrix0', '\\x00', ARRAY['read']);
      INSERT INTO admin_audit (audit_id, actor_id, action) VALUES ('{AU}', '{C}', 'users.list');
      INSERT INTO external_identities (issuer, subject, user_id, email, email_verified)
        VALUES ('https://idp.example.test', '{EO}', '{O}', 'o@example.test', true);
      INSERT INTO admin_emails (email) VALUES ('boss@example.test');
      INSERT INTO legacy_imports (project_id, user_id, session_id, owner_created) VALUES ('{N}', '{O}', '{SN}', false);
      -- started_at ahead of the clock: the app's relay finishes a reply of its own instance that it is not
      -- generating once it is 30 s old (a lost reply), which would take GO and its chunk while the cases run.
      INSERT INTO chat_generations (message_id, session_id, user_id, user_message_id, instance_id, provider, model, started_at)
        VALUES ('{GO}', '{SO}', '{O}', '{MO}', '{I}', 'p', 'm', now() + interval '1 day');
      INSERT INTO chat_generation_chunks (message_id, seq, user_id, delta) VALUES ('{GO}', 0, '{O}', 'Hel');
      INSERT INTO imports (import_id, user_id, source, file_kind, file_bytes) VALUES ('{IO}', '{O}', 'chatgpt', 'json', 1);
      INSERT INTO imported_conversations (user_id, conversation_id, session_id, import_id) VALUES ('{O}', 'c1', '{SO}', '{IO}');
    `,
        '',
      ),
    );
  });
  afterAll(() => t?.close());

  /**
   * Runs one statement in its own transaction as `actor` (or, with `actor` null, as the migrating role with
   * the caller setting of `controlAs`), always rolled back, and says what it reached.
   */
  async function attempt(actor: Actor | null, c: Case, controlAs?: Actor): Promise<Outcome> {
    const me = actorId[actor ?? controlAs ?? 'owner'];
    let outcome: Outcome = '-';
    try {
      await t.database.maintenancePrisma().$transaction(async (tx) => {
        if (actor === 'anonymous')
          await tx.$queryRawUnsafe(
            `SELECT set_config('role', $1, true), set_config('app.user_id', '', true)`,
            LEGACY_ROLE,
          );
        else if (actor)
          await tx.$queryRawUnsafe(
            `SELECT set_config('role', $1, true), set_config('app.user_id', $2, true)`,
            APP_ROLE,
            me,
          );
        else await tx.$queryRawUnsafe(`SELECT set_config('app.user_id', $1, true)`, me);
        const sql = fill(c.sql, me);
        const reached =
          c.op === 'select'
            ? (await tx.$queryRawUnsafe<unknown[]>(sql)).length
            : await tx.$executeRawUnsafe(sql);
        outcome = reached > 0 ? 'Y' : '0';
        throw ROLLBACK;
      });
    } catch (error) {
      if (error === ROLLBACK) return outcome;
      if (sqlStateOf(error) === '42501') return 'E';
      throw error;
    }
    throw new Error('the transaction was not rolled back');
  }

  const cells = CASES.flatMap((c) =>
    ACTORS.map((actor, i) => ({ c, actor, expected: c.expect[i] })).filter((cell) => cell.expected !== '-'),
  );

  it.each(
    cells.map((cell) => [cell.c.table, cell.c.op, cell.c.what, cell.actor, cell.expected, cell] as const),
  )('%s %s %s, as %s: %s', async (_table, _op, _what, actor, expected, cell) => {
    expect(await attempt(actor, cell.c)).toBe(expected);
  });

  const controlled = CASES.filter((c) => !c.expect.includes('Y'));
  it.each(controlled.map((c) => [c.table, c.op, c.what, c] as const))(
    'control: %s %s %s reaches its row as the migrating role, so a refusal above is about who asks',
    async (_table, _op, _what, c) => {
      if (c.control === undefined) throw new Error('a case that nobody may run names its control actor');
      if (typeof c.control === 'object') {
        // Not even the migrating role can: the statement must fail on an integrity constraint (or the guard
        // named), not a typo. attempt() answers a 42501 as 'E'.
        const failure = await attempt(null, c, 'owner').then(
          (outcome) => (outcome === 'E' ? '42501' : undefined),
          (error: unknown) => sqlStateOf(error),
        );
        if (c.control.sqlstate) expect(failure).toBe(c.control.sqlstate);
        else expect(failure?.slice(0, 2)).toBe('23');
        return;
      }
      expect(await attempt(null, c, c.control)).toBe('Y');
    },
  );

  it('covers every table of the schema and, on each, every operation', async () => {
    const tables = await t.sql.query<{ relname: string }>(
      `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> '_prisma_migrations'
        ORDER BY c.relname`,
    );
    const covered = [...new Set(CASES.map((c) => c.table))].sort();
    expect(covered).toEqual(tables.map((r) => r.relname));
    for (const table of covered) {
      expect([table, OPS.filter((op) => CASES.some((c) => c.table === table && c.op === op))]).toEqual([
        table,
        [...OPS],
      ]);
    }
  });

  it('the attack of issue 12 item 9: a member can neither claim P, nor remove its creator, nor delete it', async () => {
    const asMember = <T>(work: (tx: Tx) => Promise<T>) =>
      t.database.asUser({ userId: ids.M, via: 'header' }, work);
    const claim = await asMember((tx) =>
      prismaOf(tx).$executeRawUnsafe(
        `UPDATE dossier SET created_by = '${ids.M}' WHERE project_id = '${ids.P}'`,
      ),
    ).catch((error: unknown) => sqlStateOf(error));
    expect(claim).toBe('42501');
    const [removed, deleted] = await asMember(async (tx) => [
      await prismaOf(tx).$executeRawUnsafe(
        `DELETE FROM user_projects WHERE user_id = '${ids.C}' AND project_id = '${ids.P}'`,
      ),
      await prismaOf(tx).$executeRawUnsafe(`DELETE FROM dossier WHERE project_id = '${ids.P}'`),
    ]);
    expect([removed, deleted]).toEqual([0, 0]);
    const [p] = await t.sql.query<{ created_by: string; members: number }>(
      `SELECT created_by::text, (SELECT count(*)::int FROM user_projects WHERE project_id = $1) AS members
         FROM dossier WHERE project_id = $1`,
      [ids.P],
    );
    expect(p).toEqual({ created_by: ids.C, members: 3 });
  });

  it('the attack of issue 12 item 10: a member can neither rewrite nor claim the unattributed turns of a shared project', async () => {
    const changed = await t.database.asUser({ userId: ids.M, via: 'header' }, (tx) =>
      prismaOf(tx).$executeRawUnsafe(
        `UPDATE turns SET user_text = 'rewritten', user_id = '${ids.M}' WHERE user_id IS NULL`,
      ),
    );
    expect(changed).toBe(0);
    const [tu] = await t.sql.query(`SELECT user_text, user_id FROM turns WHERE turn_id = $1`, [ids.TU]);
    expect(tu).toEqual({ user_text: 'legacy', user_id: null });
  });

  describe('SECURITY DEFINER helpers and temporary tables (issue 12 item 11)', () => {
    /** A forged membership of the stranger in P, in a temporary table that shadows user_projects. */
    const FORGE = `CREATE TEMP TABLE user_projects (LIKE public.user_projects INCLUDING DEFAULTS) ON COMMIT DROP;
      INSERT INTO pg_temp.user_projects (user_id, project_id) VALUES ('${ids.S}', '${ids.P}')`;

    it.each([APP_ROLE, LEGACY_ROLE])('%s may not create temporary tables', async (role) => {
      const state = await t.database
        .maintenancePrisma()
        .$transaction(async (tx) => {
          await tx.$queryRawUnsafe(
            `SELECT set_config('role', $1, true), set_config('app.user_id', $2, true)`,
            role,
            role === APP_ROLE ? ids.S : '',
          );
          await tx.$executeRawUnsafe(
            'CREATE TEMP TABLE user_projects (user_id uuid, project_id uuid, created_at timestamptz, last_activity_at timestamptz)',
          );
          return 'created';
        })
        .catch((error: unknown) => sqlStateOf(error));
      expect(state).toBe('42501');
      const [privilege] = await t.sql.query<{ temp: boolean }>(
        `SELECT has_database_privilege($1, current_database(), 'TEMPORARY') AS temp`,
        [role],
      );
      expect(privilege.temp).toBe(false);
    });

    it('a temporary user_projects made by a role that still may is ignored by the helpers', async () => {
      const seen = await t.database
        .maintenancePrisma()
        .$transaction(async (tx) => {
          for (const statement of FORGE.split(';')) await tx.$executeRawUnsafe(statement);
          // The shadow is in place: an unqualified name now means the forged table.
          const [shadow] = await tx.$queryRawUnsafe<{ n: number }[]>(
            'SELECT count(*)::int AS n FROM user_projects',
          );
          await tx.$queryRawUnsafe(`SELECT set_config('app.user_id', $1, true)`, ids.S);
          const asStranger = async () => {
            await tx.$queryRawUnsafe(`SELECT set_config('role', $1, true)`, APP_ROLE);
            const [row] = await tx.$queryRawUnsafe<{ member: boolean; ends: boolean; members: number }[]>(
              `SELECT app.is_project_member('${ids.P}') AS member,
                      app.may_end_membership('${ids.P}', '${ids.O}') AS ends,
                      (SELECT count(*)::int FROM app.project_members('${ids.P}')) AS members`,
            );
            await tx.$queryRawUnsafe(`SELECT set_config('role', 'none', true)`);
            return row;
          };
          const now = await asStranger();
          // The same forged row against the search_path the helpers had before: the attack was real.
          await tx.$executeRawUnsafe(
            `ALTER FUNCTION app.is_project_member(uuid) SET search_path = pg_catalog, public`,
          );
          const before = await asStranger();
          throw Object.assign(new Error('rollback'), { seen: { shadow: shadow.n, now, before } });
        })
        .catch((error: { seen?: unknown }) => {
          if (!error.seen) throw error;
          return error.seen;
        });
      expect(seen).toEqual({
        shadow: 1,
        now: { member: false, ends: false, members: 0 },
        // project_members() asks is_project_member(), so the forged row also listed P's members to a stranger.
        before: { member: true, ends: false, members: 3 },
      });
    });

    it('every SECURITY DEFINER function of the app and public schemas searches pg_temp last', async () => {
      const functions = await t.sql.query<{ fn: string; config: string[] | null }>(
        `SELECT p.oid::regprocedure::text AS fn, p.proconfig AS config
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE p.prosecdef AND n.nspname IN ('app', 'public')
          ORDER BY 1`,
      );
      expect(functions.length).toBeGreaterThanOrEqual(9);
      for (const { fn, config } of functions) {
        const path = (config ?? []).find((setting) => setting.startsWith('search_path='));
        expect([fn, path]).toEqual([fn, 'search_path=pg_catalog, public, pg_temp']);
      }
    });
  });
});
