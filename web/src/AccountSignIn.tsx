import { useState, type FormEvent } from 'react';
import { Api, describeError, type User } from './api';

/**
 * Local accounts: sign in (POST /api/v1/auth/login; the refresh token stays in an HttpOnly cookie, the access
 * token here, refreshed silently when it expires) or create an account (POST /api/v1/auth/register, then sign
 * in with it).
 */
export function AccountSignIn({
  onSignedIn,
  onPickUser,
}: {
  onSignedIn: (user: User) => void;
  onPickUser?: () => void;
}) {
  const [mode, setMode] = useState<'login' | 'register'>('login');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      if (mode === 'register') await Api.register(email.trim(), password, name.trim());
      await Api.login(email.trim(), password);
      onSignedIn(await Api.me());
    } catch (error) {
      setProblem(
        mode === 'register'
          ? `${describeError(error)} If this address already has an account, sign in instead.`
          : describeError(error),
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="signin">
      <h1>Parley</h1>
      <div className="tabs" role="group" aria-label="Account">
        <button type="button" aria-pressed={mode === 'login'} onClick={() => setMode('login')}>
          Sign in
        </button>
        <button type="button" aria-pressed={mode === 'register'} onClick={() => setMode('register')}>
          Create account
        </button>
      </div>
      {problem && (
        <p role="alert" className="error">
          {problem}
        </p>
      )}
      <form className="stack" onSubmit={(event) => void submit(event)}>
        <h2>{mode === 'login' ? 'Sign in' : 'Create an account'}</h2>
        {mode === 'register' && (
          <>
            <label htmlFor="account-name">Display name</label>
            <input id="account-name" value={name} onChange={(e) => setName(e.target.value)} maxLength={100} />
          </>
        )}
        <label htmlFor="account-email">Email</label>
        <input
          id="account-email"
          type="email"
          autoComplete="email"
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
        />
        <label htmlFor="account-password">Password</label>
        <input
          id="account-password"
          type="password"
          autoComplete={mode === 'login' ? 'current-password' : 'new-password'}
          required
          minLength={mode === 'register' ? 8 : 1}
          maxLength={128}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        <button type="submit" className="primary" disabled={busy}>
          {mode === 'login' ? 'Sign in' : 'Create account and sign in'}
        </button>
      </form>
      {onPickUser && (
        <p className="hint">
          Development server:{' '}
          <button type="button" onClick={onPickUser}>
            pick a user without a password
          </button>
        </p>
      )}
    </main>
  );
}
