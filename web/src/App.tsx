import { useEffect, useState } from 'react';
import { Api, currentIdentity, describeError, setIdentity, type User, type WebSettings } from './api';
import { UserPicker } from './UserPicker';
import { Workspace } from './Workspace';

/** Decides the screen: sign-in (or the development user picker) until there is a caller, then the workspace. */
export function App() {
  const [settings, setSettings] = useState<WebSettings | null>(null);
  const [user, setUser] = useState<User | null>(null);
  const [checking, setChecking] = useState(() => currentIdentity() !== null);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    void Api.settings().then(setSettings, () => setSettings({ header_users: true, bearer: false }));
    if (!currentIdentity()) return;
    Api.me()
      .then(setUser, (error: unknown) => {
        setIdentity(null);
        setProblem(describeError(error));
      })
      .finally(() => setChecking(false));
  }, []);

  if (!settings || checking)
    return (
      <main className="splash" aria-busy="true">
        <p>Loading Parley…</p>
      </main>
    );
  if (!user) {
    if (settings.header_users)
      return (
        <UserPicker
          notice={problem}
          onChosen={(chosen) => {
            setIdentity({ kind: 'header', userId: chosen.user_id });
            setProblem(null);
            setUser(chosen);
          }}
        />
      );
    return (
      <main className="splash">
        <h1>Parley</h1>
        <p>
          Sign-in with an account is not available on this server yet. Use the API with a bearer token, or
          start Parley in development with header mode on.
        </p>
      </main>
    );
  }
  return (
    <Workspace
      user={user}
      onUserChanged={setUser}
      onSignOut={() => {
        setIdentity(null);
        setUser(null);
        history.replaceState(null, '', '#/');
      }}
    />
  );
}
