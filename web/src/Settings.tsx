import { useState, type FormEvent } from 'react';
import { Api, currentIdentity, describeError, type User } from './api';

/** Profile (PATCH /api/v1/users/me) and, with a local account, the password (PUT /api/v1/users/me/password). */
export function Settings({ user, onUserChanged }: { user: User; onUserChanged: (user: User) => void }) {
  const [name, setName] = useState(user.display_name ?? '');
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [notice, setNotice] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  const run = async (event: FormEvent, work: () => Promise<string>) => {
    event.preventDefault();
    setNotice(null);
    setProblem(null);
    try {
      setNotice(await work());
    } catch (error) {
      setProblem(describeError(error));
    }
  };

  return (
    <section className="settings" aria-labelledby="settings-heading">
      <h1 id="settings-heading">Settings</h1>
      {notice && (
        <p role="status" className="notice">
          {notice}
        </p>
      )}
      {problem && (
        <p role="alert" className="error">
          {problem}
        </p>
      )}
      <form
        className="stack"
        onSubmit={(event) =>
          void run(event, async () => {
            onUserChanged(await Api.updateMe({ display_name: name.trim() || null }));
            return 'Profile saved.';
          })
        }
      >
        <h2>Profile</h2>
        <label htmlFor="profile-name">Display name</label>
        <input id="profile-name" value={name} maxLength={100} onChange={(e) => setName(e.target.value)} />
        <button type="submit">Save profile</button>
      </form>
      {currentIdentity()?.kind === 'bearer' && (
        <form
          className="stack"
          onSubmit={(event) =>
            void run(event, async () => {
              await Api.changePassword(current, next);
              setCurrent('');
              setNext('');
              return 'Password changed. Other sign-ins have ended.';
            })
          }
        >
          <h2>Password</h2>
          <label htmlFor="password-current">Current password</label>
          <input
            id="password-current"
            type="password"
            autoComplete="current-password"
            required
            value={current}
            onChange={(e) => setCurrent(e.target.value)}
          />
          <label htmlFor="password-new">New password</label>
          <input
            id="password-new"
            type="password"
            autoComplete="new-password"
            required
            minLength={8}
            maxLength={128}
            value={next}
            onChange={(e) => setNext(e.target.value)}
          />
          <button type="submit">Change password</button>
        </form>
      )}
    </section>
  );
}
