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
import { Api, authHeaders, chatErrorOf, describeError, type Message } from './api';
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

const PAGE = 50;

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
 * One conversation. History comes from GET /sessions/{id}/messages (`latest=true`, then `before=` pages as the
 * list scrolls up), so a long session loads only its newest page. Sending goes through useChat and the AI
 * SDK's DefaultChatTransport to POST /api/v1/chat, which answers the UI message stream useChat reads.
 */
export function Chat({
  sessionId,
  projectId,
  onSession,
  onActivity,
}: {
  sessionId: string | null;
  projectId: string | null;
  onSession: (info: SessionInfo) => void;
  onActivity: () => void;
}) {
  // The session this view writes to: the one opened, or the one its first message created.
  const session = useRef(sessionId);
  const project = useRef(projectId);
  project.current = projectId;
  const [chatId] = useState(() => sessionId ?? crypto.randomUUID());

  const transport = useMemo(
    () =>
      new DefaultChatTransport<ChatMessage>({
        api: '/api/v1/chat',
        headers: () => authHeaders(),
        prepareSendMessagesRequest: ({ messages, headers }) => {
          const last = messages[messages.length - 1];
          const question = [...messages].reverse().find((m) => m.role === 'user');
          const target = session.current
            ? { session_id: session.current }
            : project.current
              ? { project_id: project.current }
              : {};
          return {
            headers: {
              ...(headers as Record<string, string>),
              // A retry of the same question (after a 502, 429 or a lost connection) is the same request:
              // Parley answers it once, and continues with the saved question instead of adding another.
              ...(last?.role === 'user' ? { 'idempotency-key': `web-${last.id}` } : {}),
            },
            body: { text: question ? textOf(question) : '', ...target },
          };
        },
      }),
    [],
  );

  const { messages, setMessages, sendMessage, status, stop, error, regenerate, clearError } =
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
      onFinish: () => onActivity(),
    });

  const [older, setOlder] = useState<ChatMessage[]>([]);
  const [before, setBefore] = useState<string | null>(null);
  const [hasOlder, setHasOlder] = useState(false);
  const [loading, setLoading] = useState(sessionId !== null);
  const [historyProblem, setHistoryProblem] = useState<string | null>(null);
  const [draft, setDraft] = useState('');
  const scroller = useRef<HTMLDivElement>(null);
  const topSentinel = useRef<HTMLDivElement>(null);
  const keepOffset = useRef<number | null>(null);
  const stickToBottom = useRef(true);

  // useChat hands out a new setMessages on every render; the history load must not follow it.
  const replaceMessages = useRef(setMessages);
  replaceMessages.current = setMessages;

  const loadLatest = useCallback(async () => {
    if (!sessionId) return;
    setLoading(true);
    try {
      const page = await Api.messages(sessionId, { latest: true, limit: PAGE });
      replaceMessages.current(page.data.map(toUiMessage));
      setBefore(page.prev_before);
      setHasOlder(page.has_more);
      setHistoryProblem(null);
    } catch (problem) {
      setHistoryProblem(describeError(problem));
    } finally {
      setLoading(false);
    }
  }, [sessionId]);

  useEffect(() => {
    void loadLatest();
  }, [loadLatest]);

  const loadOlder = useCallback(async () => {
    if (!sessionId || !before || loading) return;
    setLoading(true);
    try {
      const page = await Api.messages(sessionId, { before, limit: PAGE });
      const box = scroller.current;
      keepOffset.current = box ? box.scrollHeight - box.scrollTop : null;
      setOlder((list) => [...page.data.map(toUiMessage), ...list]);
      setBefore(page.prev_before);
      setHasOlder(page.has_more);
    } catch (problem) {
      setHistoryProblem(describeError(problem));
    } finally {
      setLoading(false);
    }
  }, [sessionId, before, loading]);

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

  const busy = status === 'submitted' || status === 'streaming';

  const send = () => {
    const text = draft.trim();
    if (!text || busy) return;
    stickToBottom.current = true;
    clearError();
    void sendMessage({ text });
    setDraft('');
  };

  // Stopping ends the reply on the server (it would otherwise go on without its stream, to be resumed), then
  // the stream here.
  const stopReply = useCallback(() => {
    if (session.current) void Api.stopReply(session.current).catch(() => undefined);
    void stop();
  }, [stop]);

  // Esc stops a reply wherever the focus is.
  useEffect(() => {
    if (!busy) return;
    const onKey = (event: globalThis.KeyboardEvent) => {
      if (event.key === 'Escape') stopReply();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [busy, stopReply]);

  const onComposerKey = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      send();
    }
  };

  const failure = error ? chatErrorOf(error) : null;
  const shown = [...older, ...messages];

  return (
    <section className="chat" aria-label="Conversation">
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
            <button type="button" onClick={() => void loadLatest()}>
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
          {shown.map((message, index) => (
            <MessageView
              key={message.id}
              message={message}
              streaming={busy && index === shown.length - 1 && message.role === 'assistant'}
            />
          ))}
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
          <button type="button" className="stop" onClick={stopReply}>
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

function MessageView({ message, streaming }: { message: ChatMessage; streaming: boolean }) {
  const text = textOf(message);
  const html = useMemo(
    () => (message.role === 'assistant' ? renderMarkdown(text) : ''),
    [message.role, text],
  );
  const metadata = message.metadata as { finish_reason?: string; error?: { message?: string } } | undefined;
  return (
    <li className={`message ${message.role}`} data-message-id={message.id}>
      <span className="visually-hidden">{message.role === 'user' ? 'You said:' : 'Parley said:'}</span>
      {message.role === 'assistant' ? (
        <div className="markdown" dangerouslySetInnerHTML={{ __html: html }} />
      ) : (
        <div className="plain">{text}</div>
      )}
      {streaming && <span className="cursor" aria-hidden="true" />}
      {(metadata?.finish_reason === 'aborted' || metadata?.finish_reason === 'stopped') && (
        <p className="muted small">Stopped.</p>
      )}
      {metadata?.error && <p className="muted small">The reply was cut short: the model failed.</p>}
    </li>
  );
}
