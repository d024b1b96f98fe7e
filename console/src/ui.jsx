// Small pieces shared by the pages: error and status messages, times, user attributes, and the
// hook that loads data. Everything the API sends is rendered as text (Preact escapes it).
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

/** An API error as a role="alert" box: the message, and the details when there are any. */
export function ErrorAlert({ error, id }) {
  if (!error) return null;
  const details = error.details && typeof error.details === 'object' ? Object.entries(error.details) : [];
  return (
    <div class="alert alert-error" role="alert" id={id}>
      <strong>{error.message || String(error)}</strong>
      {error.code && error.code !== 'network_error' ? <small class="error-code"> ({error.code})</small> : null}
      {details.length > 0 ? (
        <ul class="error-details">
          {details.map(([k, v]) => (
            <li key={k}>
              {k}: {typeof v === 'string' ? v : JSON.stringify(v)}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

/** A polite status line (results of an action the user just took). */
export function Notice({ children, id }) {
  return (
    <p class="notice" role="status" aria-live="polite" id={id}>
      {children}
    </p>
  );
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** Local readable time, the ISO text in datetime and title. */
export function Time({ iso }) {
  if (!iso) return <span class="muted">—</span>;
  const d = new Date(iso);
  const text = Number.isNaN(d.getTime()) ? String(iso) : dateFormat.format(d);
  return (
    <time datetime={String(iso)} title={String(iso)}>
      {text}
    </time>
  );
}

/** {user_id: "alice", team: "x"} as "user_id=alice, team=x". */
export function attrText(attrs) {
  if (!attrs || typeof attrs !== 'object') return '';
  return Object.entries(attrs)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');
}

/** "a=1\nb=2" (or "a=1, b=2") to {a: "1", b: "2"}; throws on a line without "=". */
export function parseAttrLines(text, separator = /\n/) {
  const out = {};
  for (const raw of String(text || '').split(separator)) {
    const line = raw.trim();
    if (!line) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`"${line}" is not name=value`);
    out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

/** The start of a hash, the whole in its title. */
export function ShortHash({ hash }) {
  if (!hash) return <span class="muted">—</span>;
  return (
    <code title={hash} class="hash">
      {hash.slice(0, 12)}…
    </code>
  );
}

export function yesNo(v) {
  return v ? 'yes' : 'no';
}

/**
 * Loads data with `fn` (an async function) whenever `deps` change, and on reload(). Keeps the last
 * data while reloading, ignores answers that arrive after a newer load started or after unmount.
 */
export function useLoad(fn, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const generation = useRef(0);
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);
  const load = useCallback(async () => {
    const mine = ++generation.current;
    setState((s) => ({ ...s, loading: true }));
    try {
      const data = await fn();
      if (mounted.current && mine === generation.current) setState({ data, error: null, loading: false });
    } catch (error) {
      if (mounted.current && mine === generation.current) setState((s) => ({ data: s.data, error, loading: false }));
    }
  }, deps);
  useEffect(() => {
    load();
  }, [load]);
  return { ...state, reload: load };
}

/** A "Loading…" line for the first load only (later loads keep the old data on screen). */
export function Loading({ state }) {
  return state.loading && !state.data ? <p aria-busy="true">Loading…</p> : null;
}

/** A page's heading; the layout focuses it after a navigation so screen readers hear where they are. */
export function PageTitle({ children }) {
  return <h1 tabIndex={-1}>{children}</h1>;
}

/** Shown by pages that need an app when there is none to pick. */
export function NeedsApp() {
  return <p>Choose an app in the header first (or create one under Keys and apps).</p>;
}

/**
 * A table's header row: one `scope="col"` cell per column name, and with `actions` a last one
 * for the row's buttons, named for screen readers only.
 */
export function TableHead({ columns, actions = false }) {
  return (
    <thead>
      <tr>
        {columns.map((name) => (
          <th scope="col" key={name}>
            {name}
          </th>
        ))}
        {actions ? (
          <th scope="col">
            <span class="visually-hidden">Actions</span>
          </th>
        ) : null}
      </tr>
    </thead>
  );
}

/** The one body row of a table that has none: a cell across every column of its TableHead. */
export function EmptyRow({ columns, actions = false, children }) {
  return (
    <tr>
      <td colSpan={columns.length + (actions ? 1 : 0)}>{children}</td>
    </tr>
  );
}
