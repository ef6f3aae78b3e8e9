/** Sign in with the same user name and password as `docker login`. */
import { useState } from 'preact/hooks';
import { type Session, signIn } from '../api';
import { ErrorBox } from '../components';
import { navigate } from '../router';

export function SignInPage({ next, session }: { next: string; session: Session }) {
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  if (session.auth === 'none') return <p>This registry has no sign-in: auth is off.</p>;
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    setBusy(true);
    setError(undefined);
    try {
      await signIn(String(form.get('username') ?? ''), String(form.get('password') ?? ''));
      navigate(next, true);
    } catch (err) {
      setError(err as Error);
      setBusy(false);
    }
  };
  return (
    <>
      <h1>Sign in</h1>
      <p class="muted">The same user name and password as docker login (a robot token works as the password too).</p>
      <form class="stack narrow" onSubmit={submit}>
        <label>
          User name
          <input name="username" autoComplete="username" required autoFocus />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" required />
        </label>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {error && <ErrorBox error={error} />}
      </form>
    </>
  );
}
