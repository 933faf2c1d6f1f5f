import { useState, type FormEvent } from 'react';
import { Api, ApiError, describeError, setIdentity, type User } from './api';

const KNOWN_KEY = 'parley.knownUsers';

interface KnownUser {
  user_id: string;
  display_name: string | null;
}

function knownUsers(): KnownUser[] {
  try {
    const list = JSON.parse(localStorage.getItem(KNOWN_KEY) ?? '[]') as KnownUser[];
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

export function rememberUser(user: KnownUser): void {
  const list = [user, ...knownUsers().filter((u) => u.user_id !== user.user_id)].slice(0, 20);
  localStorage.setItem(KNOWN_KEY, JSON.stringify(list));
}

function forgetUser(userId: string): void {
  localStorage.setItem(KNOWN_KEY, JSON.stringify(knownUsers().filter((u) => u.user_id !== userId)));
}

/**
 * Header mode on a development database: no passwords, a caller is any existing user id (X-User-ID). The
 * API lists no other users, so "pick" offers the users this browser created or used before, and an id can be
 * pasted; "create" makes a new user with POST /api/v1/users.
 */
export function UserPicker({
  onChosen,
  notice,
  onAccounts,
}: {
  onChosen: (user: User) => void;
  notice: string | null;
  onAccounts?: () => void;
}) {
  const [users, setUsers] = useState(knownUsers);
  const [name, setName] = useState('');
  const [pasted, setPasted] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(notice);

  const choose = async (userId: string) => {
    setBusy(true);
    setProblem(null);
    setIdentity({ kind: 'header', userId });
    try {
      const user = await Api.me();
      rememberUser(user);
      onChosen(user);
    } catch (error) {
      setIdentity(null);
      if (error instanceof ApiError && error.status === 401) {
        forgetUser(userId);
        setUsers(knownUsers());
        setProblem('No user with that id exists on this server.');
      } else setProblem(describeError(error));
    } finally {
      setBusy(false);
    }
  };

  const create = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      const user = await Api.createUser(name.trim());
      rememberUser(user);
      setIdentity({ kind: 'header', userId: user.user_id });
      onChosen(user);
    } catch (error) {
      setProblem(describeError(error));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="signin">
      <h1>Parley</h1>
      <p className="hint">
        Development sign-in: this server accepts <code>X-User-ID</code>, so any user can be chosen without a
        password.
      </p>
      {problem && (
        <p role="alert" className="error">
          {problem}
        </p>
      )}
      {onAccounts && (
        <p>
          <button type="button" onClick={onAccounts}>
            Sign in with an account instead
          </button>
        </p>
      )}
      {users.length > 0 && (
        <section aria-labelledby="pick-heading">
          <h2 id="pick-heading">Continue as</h2>
          <ul className="known-users">
            {users.map((u) => (
              <li key={u.user_id}>
                <button type="button" disabled={busy} onClick={() => void choose(u.user_id)}>
                  {u.display_name || 'Unnamed user'} <span className="muted">{u.user_id.slice(0, 8)}</span>
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
      <section aria-labelledby="create-heading">
        <h2 id="create-heading">Create a user</h2>
        <form onSubmit={(event) => void create(event)} className="row">
          <label htmlFor="new-user-name" className="visually-hidden">
            Display name
          </label>
          <input
            id="new-user-name"
            value={name}
            onChange={(event) => setName(event.target.value)}
            placeholder="Display name"
            maxLength={100}
            required
          />
          <button type="submit" disabled={busy || !name.trim()}>
            Create and continue
          </button>
        </form>
      </section>
      <section aria-labelledby="paste-heading">
        <h2 id="paste-heading">Use an existing user id</h2>
        <form
          className="row"
          onSubmit={(event) => {
            event.preventDefault();
            void choose(pasted.trim());
          }}
        >
          <label htmlFor="user-id" className="visually-hidden">
            User id
          </label>
          <input
            id="user-id"
            value={pasted}
            onChange={(event) => setPasted(event.target.value)}
            placeholder="00000000-0000-0000-0000-000000000000"
            pattern="[0-9a-fA-F-]{36}"
            required
          />
          <button type="submit" disabled={busy || !pasted.trim()}>
            Continue
          </button>
        </form>
      </section>
    </main>
  );
}
