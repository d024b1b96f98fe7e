// Sign-in: the admin credential is posted once to /console/api/session, which answers with the
// session (and sets the HttpOnly cookie). The credential is read from the input element directly,
// never kept in component state, and the input is emptied as soon as the vault accepted it.
import { useRef, useState } from 'preact/hooks';

import { post } from '../api.js';
import { ErrorAlert } from '../ui.jsx';

export function SignIn({ message, error, onSignedIn }) {
  const input = useRef(null);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState(null);

  const submit = async (e) => {
    e.preventDefault();
    const credential = input.current.value.trim();
    if (!credential) {
      setFailure({ message: 'Type an admin credential (alter_admin_...).' });
      input.current.focus();
      return;
    }
    setBusy(true);
    setFailure(null);
    try {
      const session = await post('/console/api/session', { credential });
      if (input.current) input.current.value = '';
      onSignedIn(session);
    } catch (err) {
      setFailure(err);
      setBusy(false);
      if (input.current) input.current.focus();
    }
  };

  const shownError = failure || error;
  return (
    <>
      <header class="site-header container">
        <div class="topbar">
          <span class="brand">Alter Vault</span>
        </div>
      </header>
      <main class="container signin">
        <article>
          <h1>Sign in to the console</h1>
          {message ? (
            <p role="status" id="signin-message" class="notice">
              {message}
            </p>
          ) : null}
          <form id="signin" onSubmit={submit} novalidate>
            <label for="credential">Admin credential</label>
            <input
              id="credential"
              name="credential"
              type="password"
              autocomplete="off"
              autocapitalize="off"
              spellcheck={false}
              required
              aria-describedby="credential-help"
              aria-invalid={failure ? 'true' : undefined}
              ref={input}
            />
            <small id="credential-help">
              An admin credential (<code>alter_admin_…</code>) from <code>alter-vault init</code> or{' '}
              <code>alter-vault admins create</code>. It is sent once; afterwards the browser holds only a session cookie.
            </small>
            <ErrorAlert error={shownError} />
            <button type="submit" aria-busy={busy ? 'true' : undefined} disabled={busy}>
              Sign in
            </button>
          </form>
        </article>
      </main>
    </>
  );
}
