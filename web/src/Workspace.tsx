import { useCallback, useEffect, useState } from 'react';
import { Api, describeError, has, type ExportFormat, type Project, type User } from './api';
import { Chat, type SessionInfo } from './Chat';
import { navigate, useRoute } from './hash';
import { SearchResults } from './Search';
import { Settings } from './Settings';
import { Sidebar } from './Sidebar';

const PROJECT_KEY = 'parley.project';

/** The signed-in screen: header, sidebar (projects and sessions) and the open chat. */
export function Workspace({
  user,
  onUserChanged,
  onSignOut,
}: {
  user: User;
  onUserChanged: (user: User) => void;
  onSignOut: () => void;
}) {
  const [query, setQuery] = useState('');
  const route = useRoute();
  const [projects, setProjects] = useState<Project[]>([]);
  const [projectId, setProjectId] = useState<string>(() => localStorage.getItem(PROJECT_KEY) ?? '');
  const [problem, setProblem] = useState<string | null>(null);
  // The open chat: its React key (a new chat gets a fresh one) and the session it shows, once it has one.
  const [chat, setChat] = useState<{ key: string; sessionId: string | null }>(() => ({
    key: route.sessionId ?? `new-${crypto.randomUUID()}`,
    sessionId: route.sessionId,
  }));
  const [activity, setActivity] = useState(0);
  const [drawerOpen, setDrawerOpen] = useState(false);

  const loadProjects = useCallback(async () => {
    try {
      const page = await Api.projects();
      setProjects(page.data);
    } catch (error) {
      setProblem(describeError(error));
    }
  }, []);

  useEffect(() => {
    void loadProjects();
  }, [loadProjects]);

  // Following the URL: another session opens a new chat view; the session a new chat just created does not.
  useEffect(() => {
    if (route.sessionId && route.sessionId !== chat.sessionId)
      setChat({ key: route.sessionId, sessionId: route.sessionId });
    if (!route.sessionId && !route.archived && !route.search && !route.settings && chat.sessionId)
      setChat({ key: `new-${crypto.randomUUID()}`, sessionId: null });
  }, [route.sessionId, route.archived, route.search, route.settings, chat.sessionId]);

  const chooseProject = (id: string) => {
    setProjectId(id);
    if (id) localStorage.setItem(PROJECT_KEY, id);
    else localStorage.removeItem(PROJECT_KEY);
  };

  const newChat = () => {
    setChat({ key: `new-${crypto.randomUUID()}`, sessionId: null });
    navigate('#/');
    setDrawerOpen(false);
  };

  const onSession = (info: SessionInfo) => {
    setChat((current) => ({ ...current, sessionId: info.session_id }));
    navigate(`#/s/${info.session_id}`, true);
    if (info.session_created) {
      setActivity((n) => n + 1);
      if (!projects.some((p) => p.project_id === info.project_id)) void loadProjects();
    }
  };

  return (
    <div className={`workspace${drawerOpen ? ' drawer-open' : ''}`}>
      <header className="topbar">
        <button
          type="button"
          className="menu-button"
          aria-label="Open the session list"
          aria-expanded={drawerOpen}
          onClick={() => setDrawerOpen((open) => !open)}
        >
          ☰
        </button>
        <span className="brand">Parley</span>
        {has('search') && (
          <form
            role="search"
            className="search-box"
            onSubmit={(event) => {
              event.preventDefault();
              if (query.trim()) navigate(`#/search?q=${encodeURIComponent(query.trim())}`);
            }}
          >
            <label htmlFor="search-input" className="visually-hidden">
              Search all sessions
            </label>
            <input
              id="search-input"
              type="search"
              placeholder="Search all sessions"
              value={query}
              onChange={(event) => setQuery(event.target.value)}
            />
          </form>
        )}
        <span className="spacer" />
        {has('export') && (
          <details className="menu">
            <summary>Export all</summary>
            <div className="menu-items" role="group" aria-label="Export every session">
              {(['markdown', 'json', 'chatgpt'] as ExportFormat[]).map((format) => (
                <button
                  key={format}
                  type="button"
                  onClick={() =>
                    void Api.exportAll(format).catch((error: unknown) => setProblem(describeError(error)))
                  }
                >
                  {format === 'markdown' ? 'Markdown' : format === 'json' ? 'JSON' : 'ChatGPT'}
                </button>
              ))}
            </div>
          </details>
        )}
        <span className="who" title={user.user_id}>
          {user.display_name || 'Unnamed user'}
        </span>
        <a href="#/settings" className="button-link">
          Settings
        </a>
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      {problem && (
        <p role="alert" className="error banner">
          {problem}{' '}
          <button type="button" onClick={() => void loadProjects().then(() => setProblem(null))}>
            Retry
          </button>{' '}
          <button type="button" onClick={() => setProblem(null)}>
            Dismiss
          </button>
        </p>
      )}
      <Sidebar
        projects={projects}
        projectId={projectId}
        onProject={chooseProject}
        onProjectCreated={(project) => {
          setProjects((list) => [project, ...list]);
          chooseProject(project.project_id);
        }}
        archived={route.archived}
        activeSessionId={chat.sessionId}
        activity={activity}
        onNewChat={newChat}
        onOpen={(sessionId) => {
          navigate(`#/s/${sessionId}`);
          setDrawerOpen(false);
        }}
        onDeleted={(sessionId) => {
          if (sessionId === chat.sessionId) newChat();
        }}
      />
      <main className="chat-pane" id="chat">
        {route.search !== null ? (
          <SearchResults q={route.search} />
        ) : route.settings ? (
          <Settings user={user} onUserChanged={onUserChanged} />
        ) : (
          <Chat
            key={chat.key}
            sessionId={chat.sessionId}
            focusMessageId={route.sessionId === chat.sessionId ? route.messageId : null}
            projectId={projectId || null}
            onSession={onSession}
            onActivity={() => setActivity((n) => n + 1)}
          />
        )}
      </main>
    </div>
  );
}
