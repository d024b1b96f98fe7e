// Overview: counts across the vault, the audit chain's head and its last verification, health.
// One call, GET /v1/admin/overview.
import { get } from '../api.js';
import { ErrorAlert, Loading, PageTitle, ShortHash, Time, useLoad } from '../ui.jsx';

function Count({ id, label, value, href }) {
  return (
    <article class="stat">
      <header>{href ? <a href={href}>{label}</a> : label}</header>
      <p class="stat-value">
        <span id={id}>{value ?? '—'}</span>
      </p>
    </article>
  );
}

function LastVerify({ v }) {
  if (!v) return <span id="last-verify">never</span>;
  return (
    <span id="last-verify" class={v.ok ? 'ok' : 'bad'}>
      {v.ok ? 'ok' : 'failed'} <Time iso={v.at} />
      {' — '}
      {v.rows_checked} rows checked, head seq {v.head_seq}
      {!v.ok && v.problem ? `: ${v.problem}` : ''}
    </span>
  );
}

function Health({ h }) {
  const status = (h && h.status) || 'unknown';
  return (
    <span id="health" class={status === 'ready' ? 'ok' : 'bad'}>
      {status}
      {h && h.message ? `: ${h.message}` : ''}
    </span>
  );
}

export function Overview({ app }) {
  const state = useLoad(() => get('/v1/admin/overview'), []);
  const o = state.data;
  const q = app ? `?app=${encodeURIComponent(app)}` : '';
  return (
    <section>
      <div class="page-head">
        <PageTitle>Overview</PageTitle>
        <button type="button" class="secondary outline" onClick={state.reload} aria-busy={state.loading ? 'true' : undefined}>
          Reload
        </button>
      </div>
      <Loading state={state} />
      <ErrorAlert error={state.error} />
      {o ? (
        <>
          <div class="stats">
            <Count id="count-apps" label="Apps" value={o.apps} href={`#/keys${q}`} />
            <Count id="count-connections-active" label="Active connections" value={o.connections && o.connections.active} href={`#/connections${q}`} />
            <Count
              id="count-connections-reauth_required"
              label="Connections needing reconnect"
              value={o.connections && o.connections.reauth_required}
              href={`#/connections${q}`}
            />
            <Count id="count-approvals-pending" label="Pending approvals" value={o.approvals_pending} href={`#/approvals${q}`} />
            <Count id="count-audit-rows" label="Audit rows" value={o.audit_rows} href={`#/audit${q}`} />
          </div>
          <article>
            <dl class="facts">
              <dt>Audit chain head</dt>
              <dd>
                <span id="chain-head">
                  seq {o.audit_head ? o.audit_head.seq : '—'} <ShortHash hash={o.audit_head && o.audit_head.hash} />
                </span>
              </dd>
              <dt>Last verification</dt>
              <dd>
                <LastVerify v={o.last_verify} />
              </dd>
              <dt>Health</dt>
              <dd>
                <Health h={o.health} />
              </dd>
            </dl>
          </article>
        </>
      ) : null}
    </section>
  );
}
