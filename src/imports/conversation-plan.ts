/**
 * What one conversation of an import becomes: a session and its messages as a tree, parents first, or the
 * reason it is skipped. Pure (no Nest, no database): the import runner writes the plan, the unit spec checks
 * the rules.
 *
 * ChatGPT's conversations.json: `mapping` is a tree of nodes `{id, message, parent, children}`; the branch
 * on screen ends at `current_node`. Every node is read through its `parent` (children lists are not trusted),
 * so branches stay branches; a node whose parent is missing starts a branch of its own; nodes on a cycle of
 * parents (and every node below one) are dropped. Which nodes become messages: see `shownText` and
 * docs/export-import.md. A dropped node is spliced out: its replies hang from its nearest kept ancestor.
 */
import { randomUUID } from 'node:crypto';

export type PlannedRole = 'user' | 'assistant' | 'system';

export interface PlannedMessage {
  /** The new message id (the source's ids are not reused: they may not be UUIDs, or may exist already). */
  id: string;
  parentId: string | null;
  role: PlannedRole;
  content: string;
  metadata: Record<string, unknown> | null;
  /** ISO 8601. */
  createdAt: string;
}

export interface ConversationPlan {
  /** The conversation's id in the source: the idempotency key, per user. */
  conversationId: string;
  title: string | null;
  /** ISO 8601, or null for "now". */
  createdAt: string | null;
  isActive: boolean;
  /** Parents before their replies. */
  messages: PlannedMessage[];
  /** The end of the branch on screen (null when there are no messages). */
  leafId: string | null;
}

export interface SkippedConversation {
  conversation_id: string | null;
  reason: string;
}

export type PlanResult = { plan: ConversationPlan } | { skip: SkippedConversation };

/** Most messages one conversation may have (it is written in one transaction). */
export const MAX_MESSAGES_PER_CONVERSATION = 100_000;
const MAX_TITLE = 200;
const MAX_ID = 200;
const ROLES = new Set<PlannedRole>(['user', 'assistant', 'system']);

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const own = (object: Json, key: string): unknown => (Object.hasOwn(object, key) ? object[key] : undefined);
const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** Seconds since the epoch (ChatGPT's times) as ISO text, or undefined when it is not a usable time. */
function isoOfSeconds(value: unknown): string | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 253402300799)
    return undefined;
  return new Date(Math.round(value * 1000)).toISOString();
}
function isoOfText(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

function titleOf(value: unknown): string | null {
  const title = text(value)?.trim();
  return title ? title.slice(0, MAX_TITLE) : null;
}

/** A node of either format, before the tree is built. */
interface SourceNode {
  id: string;
  parent: string | null;
  /** Whether it becomes a message; the other fields matter only then. */
  kept: boolean;
  role: PlannedRole;
  content: string;
  metadata: Record<string, unknown> | null;
  createdAt: string | undefined;
  /** Position in the source (tie-breaker of siblings created at the same time). */
  order: number;
}

/**
 * The text a chat history shows for a ChatGPT message, or undefined when it shows none:
 * - `text`: its string parts, joined by newlines;
 * - `multimodal_text`: its string parts, `[image]` for an image, the `text` of a part that has one (an audio
 *   transcription); other parts are left out;
 * - any other content type (`code`, `execution_output`, `tether_browsing_display`, `tether_quote`,
 *   `system_error`, `user_editable_context`, `model_editable_context`, `thoughts`, `reasoning_recap`, ...) is
 *   tool traffic or hidden context, not conversation;
 * - a message addressed to a tool (`recipient` other than `all`), a `tool` author, a hidden one
 *   (`metadata.is_visually_hidden_from_conversation`), and one whose text is blank show nothing.
 */
export function shownText(message: Json): { role: PlannedRole; content: string } | undefined {
  const author = own(message, 'author');
  const role = isObject(author) ? text(own(author, 'role')) : undefined;
  if (!role || !ROLES.has(role as PlannedRole)) return undefined;
  const metadata = own(message, 'metadata');
  if (isObject(metadata) && own(metadata, 'is_visually_hidden_from_conversation') === true) return undefined;
  const recipient = own(message, 'recipient');
  if (recipient !== undefined && recipient !== null && recipient !== 'all') return undefined;
  const content = own(message, 'content');
  if (!isObject(content)) return undefined;
  const type = own(content, 'content_type') ?? 'text';
  const parts = own(content, 'parts');
  if (!Array.isArray(parts)) return undefined;
  let pieces: string[];
  if (type === 'text') pieces = parts.filter((p): p is string => typeof p === 'string');
  else if (type === 'multimodal_text')
    pieces = parts.flatMap((part): string[] => {
      if (typeof part === 'string') return [part];
      if (!isObject(part)) return [];
      if (own(part, 'content_type') === 'image_asset_pointer') return ['[image]'];
      const partText = text(own(part, 'text'));
      return partText ? [partText] : [];
    });
  else return undefined;
  const joined = pieces.filter((p) => p.length > 0).join('\n');
  return joined.trim().length > 0 ? { role: role as PlannedRole, content: joined } : undefined;
}

/** The Parley metadata of a message: restored from a Parley export's `metadata.parley`, else what ChatGPT said. */
function chatGptMetadata(message: Json): Record<string, unknown> | null {
  const metadata = own(message, 'metadata');
  if (isObject(metadata) && Object.hasOwn(metadata, 'parley')) {
    const parley = own(metadata, 'parley');
    return isObject(parley) ? parley : null;
  }
  const model = isObject(metadata) ? text(own(metadata, 'model_slug')) : undefined;
  return { imported_from: 'chatgpt', ...(model ? { model } : {}) };
}

/** One conversation of a ChatGPT export (conversations.json or a split file). */
export function planChatGptConversation(raw: unknown, newId: () => string = randomUUID): PlanResult {
  if (!isObject(raw))
    return { skip: { conversation_id: null, reason: 'not a conversation (not a JSON object)' } };
  const conversationId = text(own(raw, 'conversation_id')) || text(own(raw, 'id'));
  if (!conversationId) return { skip: { conversation_id: null, reason: 'no conversation id' } };
  if (conversationId.length > MAX_ID)
    return { skip: { conversation_id: conversationId.slice(0, MAX_ID), reason: 'conversation id too long' } };
  const mapping = own(raw, 'mapping');
  if (!isObject(mapping))
    return { skip: { conversation_id: conversationId, reason: 'no mapping (no messages)' } };
  const nodes: SourceNode[] = [];
  let order = 0;
  for (const [key, value] of Object.entries(mapping)) {
    if (!isObject(value)) continue;
    const message = own(value, 'message');
    const shown = isObject(message) ? shownText(message) : undefined;
    nodes.push({
      id: key,
      parent: text(own(value, 'parent')) ?? null,
      kept: shown !== undefined,
      role: shown?.role ?? 'user',
      content: shown?.content ?? '',
      metadata: shown && isObject(message) ? chatGptMetadata(message) : null,
      createdAt: isObject(message) ? isoOfSeconds(own(message, 'create_time')) : undefined,
      order: order++,
    });
  }
  const parley = own(raw, 'parley');
  const fromParley = isObject(parley);
  const createdAt =
    (fromParley ? isoOfText(own(parley, 'created_at')) : undefined) ??
    isoOfSeconds(own(raw, 'create_time')) ??
    null;
  const isActive =
    fromParley && typeof own(parley, 'is_active') === 'boolean'
      ? (own(parley, 'is_active') as boolean)
      : own(raw, 'is_archived') !== true;
  return buildPlan({
    conversationId,
    title: titleOf(own(raw, 'title')),
    createdAt,
    isActive,
    nodes,
    leaf: text(own(raw, 'current_node')),
    // An empty Parley session exported and imported again is still a session; an empty ChatGPT one is not.
    keepEmpty: fromParley,
    newId,
  });
}

/** One session of Parley's own json export. */
export function planParleySession(raw: unknown, newId: () => string = randomUUID): PlanResult {
  if (!isObject(raw)) return { skip: { conversation_id: null, reason: 'not a session (not a JSON object)' } };
  const conversationId = text(own(raw, 'session_id'));
  if (!conversationId) return { skip: { conversation_id: null, reason: 'no session_id' } };
  if (conversationId.length > MAX_ID)
    return { skip: { conversation_id: conversationId.slice(0, MAX_ID), reason: 'session_id too long' } };
  const messages = own(raw, 'messages');
  if (!Array.isArray(messages))
    return { skip: { conversation_id: conversationId, reason: 'no messages array' } };
  const nodes: SourceNode[] = [];
  for (const [index, m] of messages.entries()) {
    const id = isObject(m) ? text(own(m, 'message_id')) : undefined;
    const role = isObject(m) ? text(own(m, 'role')) : undefined;
    const content = isObject(m) ? own(m, 'content') : undefined;
    if (!isObject(m) || !id || !role || !ROLES.has(role as PlannedRole) || typeof content !== 'string')
      return {
        skip: {
          conversation_id: conversationId,
          reason: `message ${index} is malformed (needs message_id, a role of user, assistant or system, and content)`,
        },
      };
    const metadata = own(m, 'metadata');
    nodes.push({
      id,
      parent: text(own(m, 'parent_id')) ?? null,
      kept: true,
      role: role as PlannedRole,
      content,
      metadata: isObject(metadata) ? metadata : null,
      createdAt: isoOfText(own(m, 'created_at')),
      order: index,
    });
  }
  return buildPlan({
    conversationId,
    title: titleOf(own(raw, 'title')),
    createdAt: isoOfText(own(raw, 'created_at')) ?? null,
    isActive: own(raw, 'is_active') !== false,
    nodes,
    leaf: text(own(raw, 'current_leaf_id')),
    keepEmpty: true,
    newId,
  });
}

interface PlanInput {
  conversationId: string;
  title: string | null;
  createdAt: string | null;
  isActive: boolean;
  nodes: SourceNode[];
  leaf: string | undefined;
  keepEmpty: boolean;
  newId: () => string;
}

function buildPlan(input: PlanInput): PlanResult {
  const { conversationId, nodes } = input;
  const byId = new Map<string, SourceNode>();
  for (const node of nodes) if (!byId.has(node.id)) byId.set(node.id, node);

  // Which nodes hang from a root (rooted) and which sit on or below a cycle of parents: iterative walks up,
  // each node settled once.
  const rooted = new Map<string, boolean>();
  for (const start of byId.values()) {
    const path: string[] = [];
    const onPath = new Set<string>();
    let current: SourceNode | undefined = start;
    let verdict = true;
    while (current) {
      const known = rooted.get(current.id);
      if (known !== undefined) {
        verdict = known;
        break;
      }
      if (onPath.has(current.id)) {
        verdict = false;
        break;
      }
      path.push(current.id);
      onPath.add(current.id);
      current = current.parent !== null ? byId.get(current.parent) : undefined;
    }
    for (const id of path) rooted.set(id, verdict);
  }

  // The nearest kept node at or above a node (memoized), and each kept node's parent in the plan.
  const nearestMemo = new Map<string, string | null>();
  const keptParent = new Map<string, string | null>();
  const nearestKept = (id: string | null): string | null => {
    const chain: string[] = [];
    let result: string | null = null;
    for (let current = id; current !== null;) {
      const memo = nearestMemo.get(current);
      if (memo !== undefined) {
        result = memo;
        break;
      }
      const node = byId.get(current);
      if (!node) break;
      if (node.kept) {
        result = node.id;
        break;
      }
      chain.push(current);
      current = node.parent;
    }
    for (const id of chain) nearestMemo.set(id, result);
    return result;
  };

  const kept = [...byId.values()].filter((n) => n.kept && rooted.get(n.id));
  if (kept.length > MAX_MESSAGES_PER_CONVERSATION)
    return {
      skip: {
        conversation_id: conversationId,
        reason: `more than ${MAX_MESSAGES_PER_CONVERSATION} messages`,
      },
    };
  if (kept.length === 0 && !input.keepEmpty)
    return {
      skip: {
        conversation_id: conversationId,
        reason: 'no message a chat shows (empty, or only hidden, tool or system content)',
      },
    };

  const children = new Map<string | null, SourceNode[]>();
  for (const node of kept) {
    const parent = node.parent !== null ? nearestKept(node.parent) : null;
    keptParent.set(node.id, parent);
    const list = children.get(parent) ?? [];
    list.push(node);
    children.set(parent, list);
  }
  const siblingOrder = (a: SourceNode, b: SourceNode) =>
    (a.createdAt ?? '').localeCompare(b.createdAt ?? '') || a.order - b.order;

  // Depth first from the roots, siblings oldest first: parents always before their replies.
  const messages: PlannedMessage[] = [];
  const newIds = new Map<string, string>();
  const timeOf = new Map<string, string>();
  const fallbackTime = input.createdAt ?? new Date().toISOString();
  const stack: SourceNode[] = [...(children.get(null) ?? [])].sort(siblingOrder).reverse();
  while (stack.length > 0) {
    const node = stack.pop()!;
    const sourceParent = keptParent.get(node.id) ?? null;
    const parentId = sourceParent !== null ? newIds.get(sourceParent)! : null;
    const id = input.newId();
    // A message without a time of its own takes its parent's.
    const createdAt =
      node.createdAt ?? (parentId !== null ? timeOf.get(parentId) : undefined) ?? fallbackTime;
    newIds.set(node.id, id);
    timeOf.set(id, createdAt);
    messages.push({
      id,
      parentId,
      role: node.role,
      content: node.content,
      metadata: node.metadata,
      createdAt,
    });
    const below = children.get(node.id);
    if (below) stack.push(...[...below].sort(siblingOrder).reverse());
  }

  // The branch on screen: current_node, or its nearest kept ancestor; without one, the newest message.
  let leaf: string | null = null;
  if (input.leaf !== undefined && rooted.get(input.leaf)) {
    const source = nearestKept(input.leaf);
    leaf = source !== null ? (newIds.get(source) ?? null) : null;
  }
  if (leaf === null && messages.length > 0)
    leaf = messages.reduce((newest, m) => (m.createdAt > newest.createdAt ? m : newest)).id;

  return {
    plan: {
      conversationId,
      title: input.title,
      createdAt: input.createdAt,
      isActive: input.isActive,
      messages,
      leafId: leaf,
    },
  };
}
