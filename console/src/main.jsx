// The console's shell: the session (sign-in or the signed-in layout), the app picker, the page
// navigation and the router. Pages live in pages/, one file each.
import { render } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

import { del, get, onSessionEnded, setCsrfToken } from './api.js';
import { ErrorAlert } from './ui.jsx';
import { PAGES, hrefFor, parseHash, rememberApp, rememberedApp, replaceHash, useRoute } from './router.js';
import { SignIn } from './pages/SignIn.jsx';
import { Overview } from './pages/Overview.jsx';
import { Connections } from './pages/Connections.jsx';
import { Approvals } from './pages/Approvals.jsx';
import { Audit } from './pages/Audit.jsx';
import { Policies } from './pages/Policies.jsx';
import { Keys } from './pages/Keys.jsx';

const PAGE_COMPONENTS = {
  overview: Overview,
  connections: Connections,
  approvals: Approvals,
  audit: Audit,
  policies: Policies,
  keys: Keys,
};

const SESSION_ENDED = 'Your session has ended; sign in again.';

function App() {
  // undefined: still asking the vault; null: signed out; else the session.
  const [session, setSession] = useState(undefined);
  const [message, setMessage] = useState('');
  const [checkError, setCheckError] = useState(null);

  const endSession = useCallback((text) => {
    setCsrfToken(null);
    setSession(null);
    setMessage(text);
  }, []);

  useEffect(() => {
    onSessionEnded(() => endSession(SESSION_ENDED));
  }, [endSession]);

  const check = useCallback(async () => {
    setCheckError(null);
    try {
      const s = await get('/console/api/session');
      setCsrfToken(s.csrf_token);
      setSession(s);
    } catch (err) {
      setSession(null);
      if (err.status !== 401) setCheckError(err);
    }
  }, []);

  useEffect(() => {
    check();
  }, [check]);

  if (session === undefined) {
    return (
      <main class="container">
        <p aria-busy="true">Loading…</p>
      </main>
    );
  }
  if (!session) {
    return (
      <SignIn
        message={message}
        error={checkError}
        onSignedIn={(s) => {
          setCsrfToken(s.csrf_token);
          setMessage('');
          setCheckError(null);
          setSession(s);
        }}
      />
    );
  }
  return <Layout session={session} onSignedOut={() => endSession('You are signed out.')} />;
}

function Layout({ session, onSignedOut }) {
  const route = useRoute();
  const [apps, setApps] = useState(null);
  const [appsError, setAppsError] = useState(null);
  const [signOutError, setSignOutError] = useState(null);
  const [signingOut, setSigningOut] = useState(false);

  const loadApps = useCallback(async () => {
    try {
      const r = await get('/v1/admin/apps');
      setApps(Array.isArray(r.apps) ? r.apps : []);
      setAppsError(null);
    } catch (err) {
      setAppsError(err);
      setApps((a) => a || []);
    }
  }, []);
  useEffect(() => {
    loadApps();
  }, [loadApps]);

  // The app in the hash wins, then the remembered one, then "default", then the first.
  const app = pickApp(apps, route.app);
  useEffect(() => {
    // The page from the address bar, not from `route`: a navigation made while the apps were
    // loading may not have reached `route` yet, and must not be undone here.
    if (apps && app && app !== route.app) replaceHash(parseHash(window.location.hash).page, app);
    if (app) rememberApp(app);
  }, [apps, app, route.app, route.page]);

  // After a navigation (not the first render), move focus to the new page's heading.
  const firstPage = useRef(true);
  useEffect(() => {
    if (firstPage.current) {
      firstPage.current = false;
      return;
    }
    const h1 = document.querySelector('main h1');
    if (h1) h1.focus();
  }, [route.page]);

  const signOut = async () => {
    setSigningOut(true);
    setSignOutError(null);
    try {
      await del('/console/api/session');
      onSignedOut();
    } catch (err) {
      if (err.status === 401) {
        onSignedOut();
      } else {
        setSignOutError(err);
        setSigningOut(false);
      }
    }
  };

  const Page = PAGE_COMPONENTS[route.page];
  const title = PAGES.find((p) => p.id === route.page).title;
  useEffect(() => {
    document.title = `${title} · Alter Vault`;
  }, [title]);

  return (
    <>
      <header class="site-header container">
        <div class="topbar">
          <a class="brand" href={hrefFor('overview', app)}>
            Alter Vault
          </a>
          <div class="app-picker">
            <label for="app">App</label>
            <select
              id="app"
              value={app}
              disabled={!apps || apps.length === 0}
              onChange={(e) => {
                rememberApp(e.currentTarget.value);
                replaceHash(route.page, e.currentTarget.value);
              }}
            >
              {!apps ? <option value="">Loading…</option> : null}
              {apps && apps.length === 0 ? <option value="">No apps</option> : null}
              {(apps || []).map((a) => (
                <option key={a.id} value={a.id}>
                  {a.name && a.name !== a.id ? `${a.name} (${a.id})` : a.id}
                </option>
              ))}
            </select>
          </div>
          <div class="who">
            <span class="muted" title={`admin ${session.admin_id}`}>
              {session.name || session.admin_id}
            </span>
            <button id="signout" type="button" class="secondary outline" onClick={signOut} disabled={signingOut}>
              Sign out
            </button>
          </div>
        </div>
        <nav class="pages" aria-label="Console pages">
          <ul>
            {PAGES.map((p) => (
              <li key={p.id}>
                <a href={hrefFor(p.id, app)} aria-current={p.id === route.page ? 'page' : undefined}>
                  {p.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <ErrorAlert error={signOutError} />
        <ErrorAlert error={appsError} />
      </header>
      <main class="container" id="main">
        {apps ? <Page key={`${route.page}:${app}`} app={app} apps={apps} reloadApps={loadApps} session={session} /> : <p aria-busy="true">Loading…</p>}
      </main>
    </>
  );
}

function pickApp(apps, wanted) {
  if (!apps || apps.length === 0) return '';
  const ids = apps.map((a) => a.id);
  for (const candidate of [wanted, rememberedApp(), 'default']) {
    if (candidate && ids.includes(candidate)) return candidate;
  }
  return ids[0];
}

render(<App />, document.getElementById('root'));
