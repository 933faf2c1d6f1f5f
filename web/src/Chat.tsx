import { useChat } from '@ai-sdk/react';
import { DefaultChatTransport, type UIMessage } from 'ai';
import {
  useCallback,
  useEffect,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
  type KeyboardEvent,
} from 'react';
import {
  Api,
  authorizedFetch,
  chatErrorOf,
  has,
  describeError,
  type ExportFormat,
  type Message,
} from './api';
import { renderMarkdown } from './markdown';

/** The `data-session` part Parley's chat stream sends before the reply. */
export interface SessionInfo {
  session_id: string;
  project_id: string | null;
  title: string | null;
  user_message_id: string;
  session_created: boolean;
}

type ChatMessage = UIMessage<Record<string, unknown> | undefined, { session: SessionInfo }>;

/** Where a saved message sits in the conversation tree (from GET …/messages). */
interface Placement {
  parent_id: string | null;
  sibling_ids: string[];
}

const PAGE = 50;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function toUiMessage(message: Message): ChatMessage {
  return {
    id: message.message_id,
    role: message.role === 'system' ? 'system' : message.role,
    metadata: message.metadata ?? undefined,
    parts: [{ type: 'text', text: message.content }],
  };
}

const textOf = (message: ChatMessage) =>
  message.parts.map((part) => (part.type === 'text' ? part.text : '')).join('');

/**
 * A server that has no resumable streams answers GET /api/v1/chat/{id}/stream with 404: that is "nothing to
 * resume" (204) to useChat, not an error to show.
 */
const chatFetch: typeof fetch = async (input, init) => {
  // authorizedFetch: the identity of the moment, and an expired access token refreshed once.
  const response = await authorizedFetch(input, init);
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  if ((init?.method ?? 'GET') === 'GET' && /\/stream$/.test(url) && response.status === 404)
    return new Response(null, { status: 204 });
  return response;
};

/**
 * One conversation. History comes from GET /sessions/{id}/messages (`latest=true`, then `before=` pages as the
 * list scrolls up), so a long session loads only its newest page. Sending goes through useChat and the AI
 * SDK's DefaultChatTransport to POST /api/v1/chat, which answers the UI message stream useChat reads; a reply
 * still running when the page was left is picked up again (GET /api/v1/chat/{session}/stream).
 */
export function Chat({
  sessionId,
  focusMessageId,
  projectId,
  onSession,
  onActivity,
}: {
  sessionId: string | null;
  /** A message to bring into view (a search hit): older pages are read until it is shown. */
  focusMessageId?: string | null;
  projectId: string | null;
  onSession: (info: SessionInfo) => void;
  onActivity: () => void;
}) {
  // The session this view writes to: the one opened, or the one its first message created.
  const session = useRef(sessionId);
  const project = useRef(projectId);
  project.current = projectId;
  const [chatId] = useState(() => sessionId ?? crypto.randomUUID());
  const [placements, setPlacements] = useState<Map<string, Placement>>(() => new Map());
  // What was sent for each question, so that a retry sends the very same request.
  const sentBodies = useRef(new Map<string, Record<string, unknown>>());

  const transport = useMemo(
    () =>
      new DefaultChatTransport<ChatMessage>({
        api: '/api/v1/chat',
        fetch: chatFetch,
        // Resuming: the reply running in this chat's session (the chat id is the session id once it has one).
        prepareReconnectToStreamRequest: () => ({
          api: `/api/v1/chat/${session.current ?? chatId}/stream`,
        }),
        prepareSendMessagesRequest: ({ messages, headers, trigger, messageId, body }) => {
          const auth = (headers ?? {}) as Record<string, string>;
          // Regenerating a saved answer: the tree's own route writes a new reply beside it.
          if (trigger === 'regenerate-message' && messageId && session.current && UUID.test(messageId))
            return {
              api: `/api/v1/sessions/${session.current}/messages/${messageId}/regenerate`,
              headers: auth,
              body: {},
            };
          const last = messages[messages.length - 1];
          const question = [...messages].reverse().find((m) => m.role === 'user');
          // A retry of the same question (after a 502, 429 or a lost connection) is the same request, body
          // and Idempotency-Key alike: Parley answers it once, continuing with the saved question.
          const retried = last?.role === 'user' ? sentBodies.current.get(last.id) : undefined;
          const target = session.current
            ? { session_id: session.current }
            : project.current
              ? { project_id: project.current }
              : {};
          const edit =
            body && 'parent_message_id' in body ? { parent_message_id: body.parent_message_id } : {};
          const sent = retried ?? { text: question ? textOf(question) : '', ...target, ...edit };
          if (last?.role === 'user') sentBodies.current.set(last.id, sent);
          return {
            headers: { ...auth, ...(last?.role === 'user' ? { 'idempotency-key': `web-${last.id}` } : {}) },
            body: sent,
          };
        },
      }),
    [chatId],
  );

  const [older, setOlder] = useState<ChatMessage[]>([]);
  const [before, setBefore] = useState<string | null>(null);
  const [hasOlder, setHasOlder] = useState(false);
  const [loading, setLoading] = useState(sessionId !== null);
  const [historyProblem, setHistoryProblem] = useState<string | null>(null);
  const [draft, setDraft] = useState('');
  const [editing, setEditing] = useState<{ id: string; text: string } | null>(null);
  const [exportProblem, setExportProblem] = useState<string | null>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const topSentinel = useRef<HTMLDivElement>(null);
  const keepOffset = useRef<number | null>(null);
  const stickToBottom = useRef(true);
  const reloadAfterReply = useRef<() => void>(() => undefined);

  const { messages, setMessages, sendMessage, status, stop, error, regenerate, clearError, resumeStream } =
    useChat<ChatMessage>({
      id: chatId,
      transport,
      experimental_throttle: 40,
      onData: (part) => {
        if (part.type === 'data-session') {
          const info = part.data as SessionInfo;
          session.current = info.session_id;
          onSession(info);
        }
      },
      onFinish: ({ isAbort, isError }) => {
        onActivity();
        // The saved messages' ids and places in the tree (for edit, regenerate and ‹ 1/2 ›).
        if (!isAbort && !isError) reloadAfterReply.current();
      },
    });

  // useChat hands out a new setMessages on every render; the history load must not follow it.
  const replaceMessages = useRef(setMessages);
  replaceMessages.current = setMessages;
  const resume = useRef(resumeStream);
  resume.current = resumeStream;

  const remember = (page: Message[]) =>
    setPlacements((known) => {
      const next = new Map(known);
      for (const m of page)
        if (m.sibling_ids)
          next.set(m.message_id, { parent_id: m.parent_id ?? null, sibling_ids: m.sibling_ids });
      return next;
    });

  /** The newest page of the current branch, replacing what is shown (older pages are read again on scroll). */
  const loadLatest = useCallback(async (thenResume: boolean) => {
    const id = session.current;
    if (!id) return;
    setLoading(true);
    try {
      const page = await Api.messages(id, { latest: true, limit: PAGE });
      replaceMessages.current(page.data.map(toUiMessage));
      remember(page.data);
      setOlder([]);
      setBefore(page.prev_before);
      setHasOlder(page.has_more);
      setHistoryProblem(null);
      stickToBottom.current = true;
      if (thenResume && has('resume')) void resume.current();
    } catch (problem) {
      setHistoryProblem(describeError(problem));
    } finally {
      setLoading(false);
    }
  }, []);
  reloadAfterReply.current = () => void loadLatest(false);

  useEffect(() => {
    void loadLatest(true);
  }, [loadLatest]);

  const loadOlder = useCallback(async () => {
    const id = session.current;
    if (!id || !before || loading) return;
    setLoading(true);
    try {
      const page = await Api.messages(id, { before, limit: PAGE });
      const box = scroller.current;
      keepOffset.current = box ? box.scrollHeight - box.scrollTop : null;
      setOlder((list) => [...page.data.map(toUiMessage), ...list]);
      remember(page.data);
      setBefore(page.prev_before);
      setHasOlder(page.has_more);
    } catch (problem) {
      setHistoryProblem(describeError(problem));
    } finally {
      setLoading(false);
    }
  }, [before, loading]);

  // Older pages when the top of the conversation scrolls into view.
  useEffect(() => {
    const top = topSentinel.current;
    if (!top || !hasOlder) return;
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((entry) => entry.isIntersecting)) void loadOlder();
      },
      { root: scroller.current },
    );
    observer.observe(top);
    return () => observer.disconnect();
  }, [hasOlder, loadOlder]);

  // Keep the view where it was when older messages are added above; follow new text at the bottom.
  useLayoutEffect(() => {
    const box = scroller.current;
    if (!box) return;
    if (keepOffset.current !== null) {
      box.scrollTop = box.scrollHeight - keepOffset.current;
      keepOffset.current = null;
    } else if (stickToBottom.current) box.scrollTop = box.scrollHeight;
  }, [older, messages]);

  // Bringing a message into view: page back until it is there (bounded), then scroll to it and mark it.
  const focusPages = useRef(0);
  useEffect(() => {
    focusPages.current = 0;
  }, [focusMessageId]);
  useEffect(() => {
    if (!focusMessageId || loading) return;
    const shown = scroller.current?.querySelector(`[data-message-id="${focusMessageId}"]`);
    if (shown) {
      stickToBottom.current = false;
      shown.scrollIntoView({ block: 'center' });
      shown.classList.add('focused');
      return;
    }
    if (hasOlder && focusPages.current < 40) {
      focusPages.current += 1;
      void loadOlder();
    }
  }, [focusMessageId, loading, hasOlder, older, messages, loadOlder]);

  const busy = status === 'submitted' || status === 'streaming';

  const send = () => {
    const text = draft.trim();
    if (!text || busy) return;
    stickToBottom.current = true;
    clearError();
    void sendMessage({ text });
    setDraft('');
  };

  /** Stop: the server stops generating (its stop route), and this page stops reading. */
  const halt = useCallback(() => {
    if (session.current) void Api.stop(session.current).catch(() => undefined);
    void stop();
  }, [stop]);

  // Esc stops a reply wherever the focus is.
  useEffect(() => {
    if (!busy) return;
    const onKey = (event: globalThis.KeyboardEvent) => {
      if (event.key === 'Escape') halt();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [busy, halt]);

  const onComposerKey = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      send();
    }
  };

  /** Edit a question: a new one beside it (same parent); the branch shown becomes the new one. */
  const saveEdit = () => {
    if (!editing || busy) return;
    const place = placements.get(editing.id);
    const index = messages.findIndex((m) => m.id === editing.id);
    if (!place || index < 0 || !editing.text.trim()) return;
    replaceMessages.current(messages.slice(0, index));
    stickToBottom.current = true;
    clearError();
    void sendMessage({ text: editing.text.trim() }, { body: { parent_message_id: place.parent_id } });
    setEditing(null);
  };

  const switchTo = async (messageId: string) => {
    if (!session.current || busy) return;
    try {
      await Api.switchBranch(session.current, messageId);
      await loadLatest(false);
      onActivity();
    } catch (problem) {
      setHistoryProblem(describeError(problem));
    }
  };

  const exportAs = async (format: ExportFormat) => {
    if (!session.current) return;
    try {
      setExportProblem(null);
      await Api.exportSession(session.current, format);
    } catch (problem) {
      setExportProblem(describeError(problem));
    }
  };

  const failure = error ? chatErrorOf(error) : null;
  const shown = [...older, ...messages];
  const inLatest = new Set(messages.map((m) => m.id));

  return (
    <section className="chat" aria-label="Conversation">
      {session.current && has('export') && (
        <div className="chat-tools">
          <details className="menu">
            <summary>Export</summary>
            <div className="menu-items" role="group" aria-label="Export this session">
              <button type="button" onClick={() => void exportAs('markdown')}>
                Markdown
              </button>
              <button type="button" onClick={() => void exportAs('json')}>
                JSON
              </button>
              <button type="button" onClick={() => void exportAs('chatgpt')}>
                ChatGPT
              </button>
            </div>
          </details>
          {exportProblem && (
            <span role="alert" className="error">
              {exportProblem}
            </span>
          )}
        </div>
      )}
      <div
        className="messages"
        ref={scroller}
        onScroll={(event) => {
          const box = event.currentTarget;
          stickToBottom.current = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
        }}
      >
        <div ref={topSentinel} className="sentinel" aria-hidden="true" />
        {hasOlder && (
          <p className="muted center">
            <button type="button" onClick={() => void loadOlder()} disabled={loading}>
              {loading ? 'Loading…' : 'Load earlier messages'}
            </button>
          </p>
        )}
        {historyProblem && (
          <p role="alert" className="error">
            {historyProblem}{' '}
            <button type="button" onClick={() => void loadLatest(false)}>
              Retry
            </button>
          </p>
        )}
        {!loading && shown.length === 0 && (
          <div className="empty-chat">
            <h1>What are you writing?</h1>
            <p className="muted">
              Ask for a plan, a draft or a revision. Enter sends, Shift+Enter adds a line.
            </p>
          </div>
        )}
        <ol className="message-list" aria-live="polite">
          {shown.map((message, index) => {
            const place = placements.get(message.id);
            const last = index === shown.length - 1;
            const canChange = !busy && place !== undefined && inLatest.has(message.id);
            return (
              <MessageView
                key={message.id}
                message={message}
                streaming={busy && last && message.role === 'assistant'}
                place={place}
                editing={editing?.id === message.id ? editing.text : null}
                onEdit={
                  canChange && message.role === 'user'
                    ? () => setEditing({ id: message.id, text: textOf(message) })
                    : undefined
                }
                onEditText={(text) => setEditing((e) => (e ? { ...e, text } : e))}
                onEditSave={saveEdit}
                onEditCancel={() => setEditing(null)}
                onRegenerate={
                  canChange && message.role === 'assistant'
                    ? () => {
                        stickToBottom.current = true;
                        clearError();
                        void regenerate({ messageId: message.id });
                      }
                    : undefined
                }
                onSwitch={!busy ? (id) => void switchTo(id) : undefined}
              />
            );
          })}
        </ol>
        {status === 'submitted' && (
          <p className="muted thinking" role="status">
            Thinking…
          </p>
        )}
        {failure && (
          <div role="alert" className="error in-place">
            <span>{describeError(failure)}</span>{' '}
            <button type="button" onClick={() => void regenerate()}>
              Retry
            </button>
          </div>
        )}
      </div>
      <form
        className="composer"
        onSubmit={(event) => {
          event.preventDefault();
          send();
        }}
      >
        <label htmlFor="composer-input" className="visually-hidden">
          Message
        </label>
        <textarea
          id="composer-input"
          value={draft}
          rows={2}
          maxLength={32000}
          placeholder="Message Parley (Enter sends, Shift+Enter new line, Esc stops)"
          onChange={(event) => setDraft(event.target.value)}
          onKeyDown={onComposerKey}
        />
        {busy ? (
          <button type="button" className="stop" onClick={halt}>
            Stop
          </button>
        ) : (
          <button type="submit" className="primary" disabled={!draft.trim()}>
            Send
          </button>
        )}
      </form>
    </section>
  );
}

function MessageView({
  message,
  streaming,
  place,
  editing,
  onEdit,
  onEditText,
  onEditSave,
  onEditCancel,
  onRegenerate,
  onSwitch,
}: {
  message: ChatMessage;
  streaming: boolean;
  place: Placement | undefined;
  editing: string | null;
  onEdit?: () => void;
  onEditText: (text: string) => void;
  onEditSave: () => void;
  onEditCancel: () => void;
  onRegenerate?: () => void;
  onSwitch?: (messageId: string) => void;
}) {
  const text = textOf(message);
  const html = useMemo(
    () => (message.role === 'assistant' ? renderMarkdown(text) : ''),
    [message.role, text],
  );
  const metadata = message.metadata as { finish_reason?: string; error?: { message?: string } } | undefined;
  const siblings = place?.sibling_ids ?? [];
  const position = siblings.indexOf(message.id);
  const who = message.role === 'user' ? 'Your message' : 'Reply';
  return (
    <li className={`message ${message.role}`} data-message-id={message.id}>
      <span className="visually-hidden">{message.role === 'user' ? 'You said:' : 'Parley said:'}</span>
      {editing !== null ? (
        <form
          className="edit"
          onSubmit={(event) => {
            event.preventDefault();
            onEditSave();
          }}
        >
          <label htmlFor={`edit-${message.id}`} className="visually-hidden">
            Edit your message
          </label>
          <textarea
            id={`edit-${message.id}`}
            autoFocus
            value={editing}
            rows={3}
            onChange={(event) => onEditText(event.target.value)}
            onKeyDown={(event) => {
              if (event.key === 'Escape') onEditCancel();
              if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
                event.preventDefault();
                onEditSave();
              }
            }}
          />
          <div className="row">
            <button type="submit" className="primary">
              Send edit
            </button>
            <button type="button" onClick={onEditCancel}>
              Cancel
            </button>
          </div>
        </form>
      ) : message.role === 'assistant' ? (
        <div className="markdown" dangerouslySetInnerHTML={{ __html: html }} />
      ) : (
        <div className="plain">{text}</div>
      )}
      {streaming && <span className="cursor" aria-hidden="true" />}
      {(metadata?.finish_reason === 'aborted' || metadata?.finish_reason === 'stopped') && (
        <p className="muted small">Stopped.</p>
      )}
      {metadata?.error && <p className="muted small">The reply was cut short: the model failed.</p>}
      {(siblings.length > 1 || onEdit || onRegenerate) && editing === null && (
        <div className="message-tools">
          {siblings.length > 1 && position >= 0 && (
            <span
              className="versions"
              role="group"
              aria-label={`${who}: version ${position + 1} of ${siblings.length}`}
            >
              <button
                type="button"
                aria-label={`Previous version of this ${message.role === 'user' ? 'message' : 'reply'}`}
                disabled={!onSwitch || position === 0}
                onClick={() => onSwitch?.(siblings[position - 1])}
              >
                ‹
              </button>
              <span>
                {position + 1}/{siblings.length}
              </span>
              <button
                type="button"
                aria-label={`Next version of this ${message.role === 'user' ? 'message' : 'reply'}`}
                disabled={!onSwitch || position === siblings.length - 1}
                onClick={() => onSwitch?.(siblings[position + 1])}
              >
                ›
              </button>
            </span>
          )}
          {onEdit && (
            <button type="button" onClick={onEdit}>
              Edit
            </button>
          )}
          {onRegenerate && (
            <button type="button" onClick={onRegenerate}>
              Regenerate
            </button>
          )}
        </div>
      )}
    </li>
  );
}
