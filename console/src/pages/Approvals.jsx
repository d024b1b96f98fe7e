// The approval queue of the app: pending requests, re-read every 2 seconds while this page is
// shown (the timer stops when the page unmounts), each approved or denied with one button. Laid
// out as cards so a phone-sized screen can decide as well as a desktop.
import { Fragment } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

import { get, post, seg } from '../api.js';
import { ErrorAlert, NeedsApp, Notice, PageTitle, Time, attrText } from '../ui.jsx';

const POLL_MS = 2000;
const RECENT = 10;

export function actorText(actor) {
  if (!actor || typeof actor !== 'object') return '—';
  const type = actor.type || 'application';
  return `${type}:${actor.id || '?'}${actor.name ? ` (${actor.name})` : ''}`;
}

export function Approvals({ app }) {
  const [pending, setPending] = useState(null);
  const [error, setError] = useState(null);
  const [updated, setUpdated] = useState(null);
  const [recent, setRecent] = useState(null);
  const [notice, setNotice] = useState(null); // {text} | {error}
  const [deciding, setDeciding] = useState({}); // approval id -> 'approve' | 'deny'
  const refreshNow = useRef(() => {});

  const loadRecent = useCallback(async () => {
    if (!app) return;
    try {
      const r = await get(`/v1/admin/apps/${seg(app)}/approvals`);
      const done = (r.approvals || []).filter((a) => a.status !== 'pending');
      done.sort((a, b) => String(b.decided_at || b.created_at).localeCompare(String(a.decided_at || a.created_at)));
      setRecent(done.slice(0, RECENT));
    } catch {
      // optional; the pending queue shows the errors that matter
    }
  }, [app]);

  // The queue polls itself. A counter drops answers older than one already shown (a poll and a
  // refresh after a decision can overlap).
  useEffect(() => {
    if (!app) return undefined;
    let stopped = false;
    let timer = 0;
    let issued = 0;
    let shown = 0;
    const fetchOnce = async () => {
      const mine = ++issued;
      try {
        const r = await get(`/v1/admin/apps/${seg(app)}/approvals?status=pending`);
        if (stopped || mine < shown) return;
        shown = mine;
        setPending(r.approvals || []);
        setError(null);
        setUpdated(new Date());
      } catch (err) {
        if (!stopped && mine >= shown) setError(err);
      }
    };
    const loop = async () => {
      if (!document.hidden) await fetchOnce();
      if (!stopped) timer = setTimeout(loop, POLL_MS);
    };
    refreshNow.current = fetchOnce;
    loop();
    return () => {
      stopped = true;
      clearTimeout(timer);
      refreshNow.current = () => {};
    };
  }, [app]);

  useEffect(() => {
    loadRecent();
  }, [loadRecent]);

  if (!app) return <NeedsApp />;

  const decide = async (a, verb) => {
    setDeciding((d) => ({ ...d, [a.id]: verb }));
    setNotice(null);
    try {
      const after = await post(`/v1/admin/approvals/${seg(a.id)}/${verb}`);
      setNotice({ text: `${verb === 'approve' ? 'Approved' : 'Denied'}: ${after.request ? `${after.request.method} ${after.request.url}` : a.id} (${after.status}).` });
    } catch (err) {
      setNotice({ error: err });
    } finally {
      setDeciding((d) => {
        const next = { ...d };
        delete next[a.id];
        return next;
      });
      refreshNow.current();
      loadRecent();
    }
  };

  return (
    <section>
      <div class="page-head">
        <PageTitle>Approvals</PageTitle>
        <small class="muted">
          Refreshes every 2 seconds{updated ? `; last at ${updated.toLocaleTimeString()}` : ''}
        </small>
      </div>
      <div id="approval-notice">{notice ? notice.error ? <ErrorAlert error={notice.error} /> : <Notice>{notice.text}</Notice> : null}</div>
      <ErrorAlert error={error} />
      <div id="approvals" aria-live="polite" aria-busy={pending === null ? 'true' : undefined}>
        {pending === null ? <p>Loading…</p> : null}
        {pending ? (
          <p class="muted" id="approvals-count">
            {pending.length === 0 ? 'No pending approvals.' : `${pending.length} pending`}
          </p>
        ) : null}
        {(pending || []).map((a) => (
          <Approval key={a.id} a={a} busy={deciding[a.id]} onDecide={decide} />
        ))}
      </div>
      {recent && recent.length > 0 ? (
        <section id="approvals-recent" aria-labelledby="approvals-recent-title">
          <h2 id="approvals-recent-title">Recently decided</h2>
          <ul>
            {recent.map((a) => (
              <li key={a.id} data-approval-id={a.id}>
                <span class={`status status-${a.status}`}>{a.status}</span>{' '}
                {a.request ? `${a.request.method} ${a.request.url}` : a.id}
                {a.decided_by ? ` by ${a.decided_by}` : ''} <Time iso={a.decided_at || a.expires_at} />
              </li>
            ))}
          </ul>
        </section>
      ) : null}
    </section>
  );
}

function Approval({ a, busy, onDecide }) {
  const r = a.request || {};
  const headers = r.headers && typeof r.headers === 'object' ? Object.entries(r.headers) : [];
  return (
    <article class="approval" data-approval-id={a.id} aria-labelledby={`approval-${a.id}`}>
      <header>
        <h2 id={`approval-${a.id}`} class="approval-title">
          <span class="method">{r.method}</span> <code class="url">{r.url}</code>
        </h2>
      </header>
      <dl class="facts">
        <dt>Agent</dt>
        <dd class="approval-actor">{actorText(r.actor)}</dd>
        <dt>User</dt>
        <dd class="approval-user">{attrText(r.user) || '—'}</dd>
        <dt>Provider</dt>
        <dd>{r.provider_id}</dd>
        <dt>Reason</dt>
        <dd class="approval-reason">{r.reason || <span class="muted">none given</span>}</dd>
        <dt>Rule</dt>
        <dd>
          <code class="approval-rule">{a.rule_id}</code>
        </dd>
        <dt>Requested</dt>
        <dd>
          <Time iso={a.created_at} />
        </dd>
        <dt>Expires</dt>
        <dd class="approval-expires">
          <Time iso={a.expires_at} />
        </dd>
        {r.window_seconds > 0 ? (
          <>
            <dt>Approving covers</dt>
            <dd>the same request for {r.window_seconds} s</dd>
          </>
        ) : null}
        {r.request_id ? (
          <>
            <dt>Request id</dt>
            <dd>
              <code>{r.request_id}</code>
            </dd>
          </>
        ) : null}
      </dl>
      {r.proxied ? (
        <section class="proxied" aria-label="Proxied call">
          <h3>Proxied call</h3>
          <dl class="facts">
            <dt>Body size</dt>
            <dd class="approval-body-size">{r.body_bytes !== undefined ? `${r.body_bytes} bytes` : '—'}</dd>
            <dt>Body SHA-256</dt>
            <dd>
              <code class="approval-body-sha256 hash">{r.body_sha256 || '—'}</code>
            </dd>
          </dl>
          {headers.length > 0 ? (
            <>
              <h4>Forwarded headers</h4>
              <dl class="facts headers approval-headers">
                {headers.map(([k, v]) => (
                  <Fragment key={k}>
                    <dt>{k}</dt>
                    <dd>{typeof v === 'string' ? v : JSON.stringify(v)}</dd>
                  </Fragment>
                ))}
              </dl>
            </>
          ) : null}
          {r.body_preview !== undefined ? (
            <>
              <h4>Body (start)</h4>
              <pre class="approval-body-preview">{typeof r.body_preview === 'string' ? r.body_preview : JSON.stringify(r.body_preview, null, 2)}</pre>
            </>
          ) : null}
        </section>
      ) : null}
      <footer class="actions">
        <button type="button" class="approve" onClick={() => onDecide(a, 'approve')} disabled={!!busy} aria-busy={busy === 'approve' ? 'true' : undefined}>
          Approve
        </button>
        <button type="button" class="deny danger" onClick={() => onDecide(a, 'deny')} disabled={!!busy} aria-busy={busy === 'deny' ? 'true' : undefined}>
          Deny
        </button>
      </footer>
    </article>
  );
}
