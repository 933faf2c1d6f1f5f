import { useEffect, useState } from 'react';
import {
  Api,
  currentIdentity,
  describeError,
  refreshAccess,
  setIdentity,
  type User,
  type WebSettings,
} from './api';
import { AccountSignIn } from './AccountSignIn';
import { UserPicker } from './UserPicker';
import { Workspace } from './Workspace';

/**
 * Decides the screen: the signed-in workspace once there is a caller; before that, account sign-in when the
 * server has local accounts (a refresh cookie signs in silently), and in header mode on a development server
 * the "pick or create a user" screen.
 */
export function App() {
  const [settings, setSettings] = useState<WebSettings | null>(null);
  const [user, setUser] = useState<User | null>(null);
  const [checking, setChecking] = useState(true);
  const [picking, setPicking] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    void (async () => {
      let loaded: WebSettings = { header_users: true, bearer: false, features: {} };
      try {
        loaded = await Api.settings();
      } catch {
        // keep the defaults: the picker, no optional screens
      }
      setSettings(loaded);
      try {
        // A sign-in still valid (its refresh cookie) comes back without a password.
        if (!currentIdentity() && loaded.features.accounts) await refreshAccess();
        if (!currentIdentity()) return;
        setUser(await Api.me());
      } catch (error) {
        setIdentity(null);
        setProblem(describeError(error));
      } finally {
        setChecking(false);
      }
    })();
  }, []);

  if (!settings || checking)
    return (
      <main className="splash" aria-busy="true">
        <p>Loading Parley…</p>
      </main>
    );
  if (!user) {
    const chosen = (next: User) => {
      setProblem(null);
      setPicking(false);
      setUser(next);
    };
    const accounts = settings.features.accounts === true;
    if (accounts && !(picking && settings.header_users))
      return (
        <AccountSignIn
          onSignedIn={chosen}
          onPickUser={settings.header_users ? () => setPicking(true) : undefined}
        />
      );
    if (settings.header_users)
      return (
        <UserPicker
          notice={problem}
          onChosen={(next) => {
            setIdentity({ kind: 'header', userId: next.user_id });
            chosen(next);
          }}
          onAccounts={accounts ? () => setPicking(false) : undefined}
        />
      );
    return (
      <main className="splash">
        <h1>Parley</h1>
        <p>
          This server has no sign-in for the web client: use the API with a bearer token, or start Parley in
          development with header mode on.
        </p>
      </main>
    );
  }
  return (
    <Workspace
      user={user}
      onUserChanged={setUser}
      onSignOut={() => {
        const wasAccount = currentIdentity()?.kind === 'bearer';
        void (wasAccount ? Api.logout().catch(() => undefined) : Promise.resolve()).finally(() => {
          setIdentity(null);
          setUser(null);
          history.replaceState(null, '', '#/');
        });
      }}
    />
  );
}
