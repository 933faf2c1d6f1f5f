import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { Api, describeError, type Project, type Session } from './api';
import { navigate } from './hash';
import { relativeTime } from './time';

interface SidebarProps {
  projects: Project[];
  projectId: string;
  onProject: (projectId: string) => void;
  onProjectCreated: (project: Project) => void;
  archived: boolean;
  activeSessionId: string | null;
  /** Bumped when a chat changed something the list shows (a new session, a reply). */
  activity: number;
  onNewChat: () => void;
  onOpen: (sessionId: string) => void;
  onDeleted: (sessionId: string) => void;
}

/**
 * Projects, and the chosen project's sessions newest activity first (GET /api/v1/sessions), paged by cursor
 * as the list scrolls; the archived view lists is_active=false. Each row renames in place, archives or
 * restores, and deletes after a confirmation.
 */
export function Sidebar(props: SidebarProps) {
  const { projectId, archived, activity } = props;
  const [sessions, setSessions] = useState<Session[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [newProject, setNewProject] = useState<string | null>(null);
  const generation = useRef(0);
  const sentinel = useRef<HTMLLIElement>(null);

  const load = useCallback(
    async (from: string | null) => {
      const mine = from === null ? ++generation.current : generation.current;
      setLoading(true);
      try {
        const page = await Api.sessions({
          project_id: projectId || undefined,
          is_active: !archived,
          cursor: from,
        });
        if (mine !== generation.current) return;
        setSessions((list) => (from === null ? page.data : [...list, ...page.data]));
        setCursor(page.next_cursor);
        setProblem(null);
      } catch (error) {
        if (mine === generation.current) setProblem(describeError(error));
      } finally {
        if (mine === generation.current) setLoading(false);
      }
    },
    [projectId, archived],
  );

  useEffect(() => {
    void load(null);
  }, [load, activity]);

  // The next page when the end of the list scrolls into view.
  useEffect(() => {
    const end = sentinel.current;
    if (!end || !cursor) return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting) && !loading) void load(cursor);
    });
    observer.observe(end);
    return () => observer.disconnect();
  }, [cursor, loading, load]);

  const replace = (updated: Session) =>
    setSessions((list) => list.map((s) => (s.session_id === updated.session_id ? updated : s)));
  const remove = (sessionId: string) => setSessions((list) => list.filter((s) => s.session_id !== sessionId));

  const createProject = async (event: FormEvent) => {
    event.preventDefault();
    if (!newProject?.trim()) return;
    try {
      const project = await Api.createProject(newProject.trim());
      props.onProjectCreated(project);
      setNewProject(null);
    } catch (error) {
      setProblem(describeError(error));
    }
  };

  return (
    <nav className="sidebar" aria-label="Sessions">
      <div className="sidebar-top">
        <button type="button" className="primary" onClick={props.onNewChat}>
          + New chat
        </button>
        <label htmlFor="project-select">Project</label>
        <div className="row">
          <select
            id="project-select"
            value={projectId}
            onChange={(event) => props.onProject(event.target.value)}
          >
            <option value="">All projects</option>
            {props.projects.map((p) => (
              <option key={p.project_id} value={p.project_id}>
                {p.title || 'Untitled project'}
              </option>
            ))}
          </select>
          <button
            type="button"
            aria-label="New project"
            title="New project"
            onClick={() => setNewProject((v) => (v === null ? '' : null))}
          >
            +
          </button>
        </div>
        {newProject !== null && (
          <form className="row" onSubmit={(event) => void createProject(event)}>
            <label htmlFor="new-project" className="visually-hidden">
              New project title
            </label>
            <input
              id="new-project"
              autoFocus
              value={newProject}
              maxLength={200}
              placeholder="Project title"
              onChange={(event) => setNewProject(event.target.value)}
            />
            <button type="submit">Create</button>
          </form>
        )}
        <div className="tabs" role="group" aria-label="Which sessions">
          <button type="button" aria-pressed={!archived} onClick={() => navigate('#/')}>
            Active
          </button>
          <button type="button" aria-pressed={archived} onClick={() => navigate('#/archived')}>
            Archived
          </button>
        </div>
      </div>
      {problem && (
        <p role="alert" className="error">
          {problem}{' '}
          <button type="button" onClick={() => void load(null)}>
            Retry
          </button>
        </p>
      )}
      <ul className="session-list" aria-busy={loading}>
        {sessions.map((session) => (
          <SessionRow
            key={session.session_id}
            session={session}
            active={session.session_id === props.activeSessionId}
            onOpen={() => props.onOpen(session.session_id)}
            onChanged={(updated) =>
              updated.is_active === !archived ? replace(updated) : remove(updated.session_id)
            }
            onDeleted={() => {
              remove(session.session_id);
              props.onDeleted(session.session_id);
            }}
            onProblem={setProblem}
          />
        ))}
        {!loading && sessions.length === 0 && (
          <li className="muted empty">{archived ? 'No archived sessions.' : 'No sessions yet.'}</li>
        )}
        <li ref={sentinel} className="sentinel" aria-hidden="true">
          {loading ? 'Loading…' : ''}
        </li>
      </ul>
    </nav>
  );
}

function SessionRow({
  session,
  active,
  onOpen,
  onChanged,
  onDeleted,
  onProblem,
}: {
  session: Session;
  active: boolean;
  onOpen: () => void;
  onChanged: (session: Session) => void;
  onDeleted: () => void;
  onProblem: (problem: string) => void;
}) {
  const [renaming, setRenaming] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  const title = session.title || session.last_message_preview?.slice(0, 60) || 'New chat';

  const act = async (work: () => Promise<void>) => {
    try {
      await work();
    } catch (error) {
      onProblem(describeError(error));
    }
  };

  if (renaming !== null)
    return (
      <li className="session editing">
        <form
          onSubmit={(event) => {
            event.preventDefault();
            void act(async () => {
              const updated = await Api.updateSession(session.session_id, { title: renaming.trim() || null });
              setRenaming(null);
              onChanged(updated);
            });
          }}
        >
          <label htmlFor={`rename-${session.session_id}`} className="visually-hidden">
            New title
          </label>
          <input
            id={`rename-${session.session_id}`}
            autoFocus
            value={renaming}
            maxLength={200}
            onChange={(event) => setRenaming(event.target.value)}
            onKeyDown={(event) => {
              if (event.key === 'Escape') setRenaming(null);
            }}
          />
          <button type="submit">Save</button>
          <button type="button" onClick={() => setRenaming(null)}>
            Cancel
          </button>
        </form>
      </li>
    );

  return (
    <li className={`session${active ? ' active' : ''}`}>
      <a
        href={`#/s/${session.session_id}`}
        aria-current={active ? 'page' : undefined}
        onClick={(event) => {
          event.preventDefault();
          onOpen();
        }}
      >
        <span className="session-title">
          {session.pinned && <span aria-label="Pinned">📌 </span>}
          {title}
        </span>
        {session.last_message_preview && (
          <span className="session-preview">{session.last_message_preview}</span>
        )}
        <span className="session-meta">
          {session.message_count} {session.message_count === 1 ? 'message' : 'messages'} ·{' '}
          <time dateTime={session.last_message_at}>{relativeTime(session.last_message_at)}</time>
        </span>
      </a>
      {confirming ? (
        <div className="session-actions confirm" role="group" aria-label="Confirm deletion">
          <span>Delete “{title}”?</span>
          <button
            type="button"
            className="danger"
            onClick={() =>
              void act(async () => {
                await Api.deleteSession(session.session_id);
                onDeleted();
              })
            }
          >
            Delete
          </button>
          <button type="button" onClick={() => setConfirming(false)}>
            Keep
          </button>
        </div>
      ) : (
        <div className="session-actions">
          <button
            type="button"
            aria-label={`Rename ${title}`}
            onClick={() => setRenaming(session.title ?? '')}
          >
            Rename
          </button>
          <button
            type="button"
            aria-label={`${session.is_active ? 'Archive' : 'Restore'} ${title}`}
            onClick={() =>
              void act(async () =>
                onChanged(await Api.updateSession(session.session_id, { is_active: !session.is_active })),
              )
            }
          >
            {session.is_active ? 'Archive' : 'Restore'}
          </button>
          <button type="button" aria-label={`Delete ${title}`} onClick={() => setConfirming(true)}>
            Delete
          </button>
        </div>
      )}
    </li>
  );
}
