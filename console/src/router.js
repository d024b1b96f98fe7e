// Hash routing: "#/approvals?app=crm". The vault serves one page at /console/, so the hash keeps
// deep links working after a reload without any server-side route. The query holds only the
// selected app id (never a credential).
import { useEffect, useState } from 'preact/hooks';

export const PAGES = [
  { id: 'overview', title: 'Overview' },
  { id: 'connections', title: 'Connections' },
  { id: 'approvals', title: 'Approvals' },
  { id: 'audit', title: 'Audit' },
  { id: 'policies', title: 'Policies' },
  { id: 'keys', title: 'Keys and apps' },
];
const DEFAULT_PAGE = 'overview';

/** The current route: {page, app} ("app" may be empty). Unknown pages fall back to the overview. */
export function parseHash(hash) {
  const text = (hash || '').replace(/^#\/?/, '');
  const q = text.indexOf('?');
  const name = q < 0 ? text : text.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : text.slice(q + 1));
  const page = PAGES.some((p) => p.id === name) ? name : DEFAULT_PAGE;
  return { page, app: params.get('app') || '' };
}

/** "#/page?app=id" */
export function hrefFor(page, app) {
  return `#/${page}${app ? `?app=${encodeURIComponent(app)}` : ''}`;
}

export function useRoute() {
  const [route, setRoute] = useState(() => parseHash(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseHash(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

/** Replaces the hash without adding a history entry (used to record the chosen app). */
export function replaceHash(page, app) {
  const next = hrefFor(page, app);
  if (window.location.hash !== next) {
    window.history.replaceState(null, '', next);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  }
}

// The last chosen app, so a fresh tab opens on it. Not a secret: only an app id.
const APP_KEY = 'alter-console.app';

export function rememberedApp() {
  try {
    return window.localStorage.getItem(APP_KEY) || '';
  } catch {
    return '';
  }
}

export function rememberApp(app) {
  try {
    if (app) window.localStorage.setItem(APP_KEY, app);
  } catch {
    // storage may be disabled; the hash still holds the choice
  }
}
