/**
 * The three export formats as text, written piece by piece: a format never sees more than one page of
 * messages, so an export of any size is streamed (ExportsService feeds it pages). Pure: no Nest, no database.
 */
import type { ExportBranchRow, ExportMessageRow, ExportSessionRow } from './exports.sql.js';
import type { ExportFormat } from './exports.dto.js';

/** The id of the ChatGPT format's root node (its message is null), as ChatGPT's own exports name it. */
export const CHATGPT_ROOT_ID = 'client-created-root';

export interface ExportWriter {
  /** Which messages the format shows: every branch (`tree`) or the branch on screen (`branch`). */
  readonly reads: 'tree' | 'branch';
  readonly contentType: string;
  readonly fileName: string;
  begin(): string;
  /** `index`: the session's position in the export (0 for the first). */
  sessionStart(session: ExportSessionRow, index: number): string;
  /** `first`: whether these are the session's first messages. */
  treeMessages(rows: ExportMessageRow[], first: boolean): string;
  branchMessages(rows: ExportBranchRow[], first: boolean): string;
  /** `roots`: the session's first messages (children of the ChatGPT root). */
  sessionEnd(session: ExportSessionRow, roots: string[]): string;
  end(): string;
}

/** Seconds since the epoch, as ChatGPT writes times, from microseconds (text). */
const seconds = (micros: string): number => Number(micros) / 1e6;
const secondsOfIso = (iso: string): number => Date.parse(iso) / 1000;

/** A JSON object's text without its closing brace, to append more members to it. */
const openObject = (value: object): string => JSON.stringify(value).slice(0, -1);

const modelOf = (metadata: Record<string, unknown> | null): string | undefined =>
  typeof metadata?.model === 'string' && metadata.model.length > 0 ? metadata.model : undefined;

function parleyJson(exportedAt: string): ExportWriter {
  return {
    reads: 'tree',
    contentType: 'application/json; charset=utf-8',
    fileName: 'parley-export.json',
    begin: () => `${openObject({ format: 'parley', version: 1, exported_at: exportedAt })},"sessions":[`,
    sessionStart: (s, index) =>
      `${index > 0 ? ',' : ''}${openObject({
        session_id: s.session_id,
        project_id: s.project_id,
        title: s.title,
        created_at: s.created_at,
        updated_at: s.updated_at,
        last_message_at: s.last_message_at,
        is_active: s.is_active,
        current_leaf_id: s.current_leaf_id,
      })},"messages":[`,
    treeMessages: (rows, first) =>
      (first ? '' : ',') +
      rows
        .map((m) =>
          JSON.stringify({
            message_id: m.message_id,
            parent_id: m.parent_id,
            role: m.role,
            content: m.content,
            metadata: m.metadata,
            created_at: m.created_at,
            updated_at: m.updated_at,
          }),
        )
        .join(','),
    branchMessages: () => '',
    sessionEnd: () => ']}',
    end: () => ']}',
  };
}

/** One message as a node of ChatGPT's mapping. */
function chatGptNode(m: ExportMessageRow): object {
  const model = modelOf(m.metadata);
  return {
    id: m.message_id,
    message: {
      id: m.message_id,
      author: { role: m.role, name: null, metadata: {} },
      create_time: seconds(m.created_us),
      update_time: seconds(m.updated_us),
      content: { content_type: 'text', parts: [m.content] },
      status: 'finished_successfully',
      end_turn: m.role === 'assistant' ? true : null,
      weight: 1,
      metadata: { ...(model ? { model_slug: model } : {}), parley: m.metadata },
      recipient: 'all',
    },
    parent: m.parent_id ?? CHATGPT_ROOT_ID,
    children: m.children,
  };
}

function chatGpt(): ExportWriter {
  let model: string | null = null;
  let wroteNode = false;
  return {
    reads: 'tree',
    contentType: 'application/json; charset=utf-8',
    fileName: 'conversations.json',
    begin: () => '[',
    sessionStart: (s, index) => {
      model = null;
      wroteNode = false;
      return `${index > 0 ? ',' : ''}${openObject({
        id: s.session_id,
        conversation_id: s.session_id,
        title: s.title,
        create_time: secondsOfIso(s.created_at),
        update_time: secondsOfIso(s.last_message_at),
        current_node: s.current_leaf_id ?? CHATGPT_ROOT_ID,
        is_archived: !s.is_active,
        parley: {
          session_id: s.session_id,
          project_id: s.project_id,
          is_active: s.is_active,
          created_at: s.created_at,
          updated_at: s.updated_at,
          last_message_at: s.last_message_at,
        },
      })},"mapping":{`;
    },
    treeMessages: (rows, first) => {
      for (const m of rows) model = modelOf(m.metadata) ?? model;
      if (rows.length > 0) wroteNode = true;
      return (
        (first ? '' : ',') +
        rows.map((m) => `${JSON.stringify(m.message_id)}:${JSON.stringify(chatGptNode(m))}`).join(',')
      );
    },
    branchMessages: () => '',
    sessionEnd: (_s, roots) => {
      const root = { id: CHATGPT_ROOT_ID, message: null, parent: null, children: roots };
      // The root closes the mapping; the newest model seen is the conversation's default.
      return `${wroteNode ? ',' : ''}${JSON.stringify(CHATGPT_ROOT_ID)}:${JSON.stringify(
        root,
      )}},"default_model_slug":${JSON.stringify(model)}}`;
    },
    end: () => ']',
  };
}

const ROLE_NAMES: Record<string, string> = { user: 'User', assistant: 'Assistant', system: 'System' };

function markdown(): ExportWriter {
  return {
    reads: 'branch',
    contentType: 'text/markdown; charset=utf-8',
    fileName: 'parley-export.md',
    begin: () => '',
    sessionStart: (s, index) => {
      const facts = [
        `Session \`${s.session_id}\``,
        `created ${s.created_at}`,
        `last message ${s.last_message_at}`,
        ...(s.is_active ? [] : ['archived']),
      ];
      return `${index > 0 ? '\n---\n\n' : ''}# ${oneLine(s.title) || 'Untitled session'}\n\n_${facts.join(' · ')}_\n`;
    },
    treeMessages: () => '',
    branchMessages: (rows) =>
      rows
        .map((m) => {
          const model = modelOf(m.metadata);
          const heading = [ROLE_NAMES[m.role] ?? m.role, m.created_at, ...(model ? [model] : [])].join(' · ');
          return `\n## ${heading}\n\n${m.content}\n`;
        })
        .join(''),
    sessionEnd: () => '',
    end: () => '',
  };
}

/** A title on one line (a Markdown heading ends at the line's end). */
const oneLine = (text: string | null): string => (text ?? '').replace(/\s+/g, ' ').trim();

export function exportWriter(format: ExportFormat, exportedAt: string): ExportWriter {
  switch (format) {
    case 'json':
      return parleyJson(exportedAt);
    case 'chatgpt':
      return chatGpt();
    case 'markdown':
      return markdown();
  }
}
