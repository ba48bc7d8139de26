import { useState } from 'preact/hooks';
import { login } from '../actions/session';
import { errorText } from '../actions/errors';
import { navigate } from '../router';

/** `note` explains why a login is needed. */
export function LoginPage(props: { note?: string }) {
  const [loginId, setLoginId] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      // Once logged in, App sends the user on (or, with `stay`, shows the page asked for).
      await login(loginId.trim(), password);
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };
  return (
    <main class="auth-page">
      <form class="auth-card" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Log in to Starling</h1>
        {props.note ? <p class="notice">{props.note}</p> : null}
        <label>
          Email or username
          <input name="login_id" autoComplete="username" value={loginId} onInput={(e) => setLoginId(e.currentTarget.value)} required />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} required />
        </label>
        {error ? <p class="form-error" role="alert">{error}</p> : null}
        <button type="submit" class="btn btn--primary" disabled={busy}>
          Log in
        </button>
        <p>
          No account yet? <a href="/signup_user_complete" onClick={(e) => { e.preventDefault(); navigate('/signup_user_complete'); }}>Create one</a>
        </p>
      </form>
    </main>
  );
}
