import { useState } from 'preact/hooks';
import { signup } from '../actions/session';
import { errorText } from '../actions/errors';
import { navigate } from '../router';

export function SignupPage() {
  const [email, setEmail] = useState('');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      // Once signed in, App sends the user on (this page is gone by then).
      await signup(email.trim(), username.trim().toLowerCase(), password);
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };
  return (
    <main class="auth-page">
      <form class="auth-card" onSubmit={submit} aria-labelledby="signup-title">
        <h1 id="signup-title">Create your account</h1>
        <label>
          Email
          <input name="email" type="email" autoComplete="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} required />
        </label>
        <label>
          Username
          <input name="username" autoComplete="username" pattern="[a-zA-Z0-9._\-]{3,22}" title="3 to 22 letters, digits, dots, dashes or underscores" value={username} onInput={(e) => setUsername(e.currentTarget.value)} required />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="new-password" minLength={8} value={password} onInput={(e) => setPassword(e.currentTarget.value)} required />
        </label>
        {error ? <p class="form-error" role="alert">{error}</p> : null}
        <button type="submit" class="btn btn--primary" disabled={busy}>
          Create account
        </button>
        <p>
          Already have an account? <a href="/login" onClick={(e) => { e.preventDefault(); navigate('/login'); }}>Log in</a>
        </p>
      </form>
    </main>
  );
}
