// The audit trail: the CLI's filters (docs/cli.md, `audit list`), pages of rows through after_seq,
// one row in full, the chain's verification and an export of the same filter as JSON lines.
import { useState } from 'preact/hooks';

import { get, qs } from '../api.js';
import { EmptyRow, ErrorAlert, Loading, PageTitle, ShortHash, TableHead, Time, attrText, useLoad } from '../ui.jsx';
import { actorText } from './Approvals.jsx';

const AUDIT_COLUMNS = ['Seq', 'Time', 'Kind', 'Decision', 'Actor', 'User', 'Provider', 'Request', 'Reason'];

// The closed sets the API accepts (server/src/audit/audit.cpp); anything else is a 400.
const KINDS = ['token', 'api_call', 'refresh', 'connect', 'revocation', 'approval', 'admin'];
const DECISIONS = [
  'issued', 'denied', 'not_found', 'ambiguous', 'expired', 'approval_required', 'error',
  'called', 'refreshed', 'refresh_failed', 'reauth_required', 'link_created', 'connected', 'failed', 'deleted',
  'requested', 'approved',
  'initialized', 'app_created', 'app_updated', 'api_key_created', 'api_key_revoked', 'provider_credential_set',
  'provider_credential_deleted', 'provider_added', 'provider_removed', 'connection_imported', 'key_rotated',
  'admin_credential_created', 'admin_credential_revoked', 'policy_applied', 'audit_payloads_purged', 'key_rotation_finished',
];
const LIMITS = [25, 50, 100, 500];
const ALL_APPS = '*';

/** The query of a filter form, as the API names its parameters. */
function filterQuery(f) {
  const q = {
    app: f.app === ALL_APPS ? '' : f.app,
    provider: f.provider.trim(),
    decision: f.decision,
    kind: f.kind,
    actor: f.actor.trim(),
    since: f.since.trim(),
    until: f.until.trim(),
    request_id: f.request_id.trim(),
  };
  // "alice" is user_id=alice; "team=blue" any attribute (the CLI's --user NAME=VALUE).
  const user = f.user.trim();
  if (user) {
    const eq = user.indexOf('=');
    if (eq > 0) q[`user.${user.slice(0, eq).trim()}`] = user.slice(eq + 1).trim();
    else q.user = user;
  }
  return q;
}

export function Audit({ app, apps }) {
  const blank = { app: app || ALL_APPS, provider: '', decision: '', kind: '', actor: '', user: '', since: '', until: '', request_id: '', limit: '50' };
  const [form, setForm] = useState(blank);
  const [applied, setApplied] = useState(blank);
  const [pages, setPages] = useState([0]); // the after_seq of each page seen, for "Previous"
  const [detail, setDetail] = useState(null);
  const [verify, setVerify] = useState(null); // {busy} | {report} | {error}

  const afterSeq = pages[pages.length - 1];
  const query = filterQuery(applied);
  const pageNumber = pages.length;
  // The answer carries the page it is, so the caption never names a page whose rows are still loading.
  const state = useLoad(
    async () => ({
      ...(await get(`/v1/admin/audit${qs({ ...query, after_seq: afterSeq || '', limit: applied.limit })}`)),
      shown: { page: pageNumber, afterSeq },
    }),
    [JSON.stringify(query), afterSeq, applied.limit],
  );
  const providers = useLoad(() => get('/v1/admin/providers'), []);
  const events = (state.data && state.data.events) || [];
  const next = state.data && state.data.next_after_seq;

  const set = (name) => (e) => {
    const value = e.currentTarget.value;
    setForm((f) => ({ ...f, [name]: value }));
  };
  const submit = (e) => {
    e.preventDefault();
    setApplied(form);
    setPages([0]);
    setDetail(null);
  };
  const runVerify = async () => {
    setVerify({ busy: true });
    try {
      setVerify({ report: await get('/v1/admin/audit/verify') });
    } catch (err) {
      setVerify({ error: err });
    }
  };

  return (
    <section>
      <PageTitle>Audit</PageTitle>
      <form id="audit-filters" class="filters" onSubmit={submit}>
        <div class="grid-auto">
          <label>
            App
            <select id="audit-app" value={form.app} onChange={set('app')}>
              <option value={ALL_APPS}>All apps</option>
              {apps.map((a) => (
                <option key={a.id} value={a.id}>
                  {a.id}
                </option>
              ))}
            </select>
          </label>
          <label>
            Provider
            <input id="audit-provider" type="text" list="audit-provider-ids" value={form.provider} onInput={set('provider')} />
            <datalist id="audit-provider-ids">
              {((providers.data && providers.data.providers) || []).map((p) => (
                <option key={p.id} value={p.id} />
              ))}
            </datalist>
          </label>
          <label>
            Kind
            <select id="audit-kind" value={form.kind} onChange={set('kind')}>
              <option value="">Any</option>
              {KINDS.map((k) => (
                <option key={k} value={k}>
                  {k}
                </option>
              ))}
            </select>
          </label>
          <label>
            Decision
            <select id="audit-decision" value={form.decision} onChange={set('decision')}>
              <option value="">Any</option>
              {DECISIONS.map((d) => (
                <option key={d} value={d}>
                  {d}
                </option>
              ))}
            </select>
          </label>
          <label>
            Actor
            <input id="audit-actor" type="text" placeholder="ai_agent:email-assistant" value={form.actor} onInput={set('actor')} aria-describedby="audit-actor-help" />
            <small id="audit-actor-help">ID, TYPE:ID or TYPE:</small>
          </label>
          <label>
            User
            <input id="audit-user" type="text" placeholder="alice or team=blue" value={form.user} onInput={set('user')} aria-describedby="audit-user-help" />
            <small id="audit-user-help">a user_id, or name=value</small>
          </label>
          <label>
            Since
            <input id="audit-since" type="text" placeholder="1h or 2026-01-01T00:00:00Z" value={form.since} onInput={set('since')} />
          </label>
          <label>
            Until
            <input id="audit-until" type="text" placeholder="ISO 8601 time or duration" value={form.until} onInput={set('until')} />
          </label>
          <label>
            Request id
            <input id="audit-request-id" type="text" value={form.request_id} onInput={set('request_id')} />
          </label>
          <label>
            Rows per page
            <select id="audit-limit" value={form.limit} onChange={set('limit')}>
              {LIMITS.map((n) => (
                <option key={n} value={String(n)}>
                  {n}
                </option>
              ))}
            </select>
          </label>
        </div>
        <div class="actions">
          <button type="submit">Apply filters</button>
          <button
            type="button"
            class="secondary outline"
            onClick={() => {
              setForm(blank);
              setApplied(blank);
              setPages([0]);
            }}
          >
            Clear
          </button>
          <a id="audit-export" role="button" class="secondary outline" href={`/v1/admin/audit/export${qs(query)}`} download="audit.jsonl">
            Export JSON lines
          </a>
        </div>
      </form>

      <div class="actions">
        <button type="button" id="audit-reload" class="secondary outline" onClick={state.reload} aria-busy={state.loading ? 'true' : undefined}>
          Reload
        </button>
        <button type="button" id="audit-verify" class="secondary" onClick={runVerify} disabled={verify && verify.busy} aria-busy={verify && verify.busy ? 'true' : undefined}>
          Verify chain
        </button>
      </div>
      <VerifyResult verify={verify} />

      <Loading state={state} />
      <ErrorAlert error={state.error} />
      {state.data ? (
        <>
          <div class="overflow-auto">
            <table id="audit" class="striped">
              <caption class="muted">
                Page {state.data.shown.page}: {events.length} row{events.length === 1 ? '' : 's'}, oldest first
                {state.data.shown.afterSeq ? ` (after seq ${state.data.shown.afterSeq})` : ''}
              </caption>
              <TableHead columns={AUDIT_COLUMNS} actions />
              <tbody>
                {events.length === 0 ? (
                  <EmptyRow columns={AUDIT_COLUMNS} actions>No rows match.</EmptyRow>
                ) : null}
                {events.map((row) => (
                  <tr key={row.seq} data-seq={row.seq} class="clickable" aria-selected={detail && detail.seq === row.seq ? 'true' : undefined} onClick={() => setDetail(row)}>
                    <td>{row.seq}</td>
                    <td>
                      <Time iso={row.ts} />
                    </td>
                    <td>{row.kind}</td>
                    <td>
                      <span class={`decision decision-${row.decision}`}>{row.decision}</span>
                    </td>
                    <td>{row.actor ? actorText(row.actor) : ''}</td>
                    <td>{attrText(row.user)}</td>
                    <td>{row.provider_id}</td>
                    <td class="url">{row.method || row.url ? `${row.method || ''} ${row.url || ''}`.trim() : ''}</td>
                    <td>{row.reason}</td>
                    <td>
                      <button
                        type="button"
                        class="secondary outline small"
                        onClick={(e) => {
                          e.stopPropagation();
                          setDetail(row);
                        }}
                      >
                        View
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div class="actions">
            <button type="button" id="audit-first" class="secondary outline" disabled={pages.length === 1} onClick={() => setPages([0])}>
              First page
            </button>
            <button type="button" id="audit-prev" class="secondary outline" disabled={pages.length === 1} onClick={() => setPages((p) => p.slice(0, -1))}>
              Previous page
            </button>
            <button type="button" id="audit-next" class="secondary outline" disabled={!next || state.loading} onClick={() => setPages((p) => [...p, next])}>
              Next page
            </button>
          </div>
        </>
      ) : null}

      {detail ? (
        <section id="audit-row" aria-labelledby="audit-row-title">
          <div class="page-head">
            <h2 id="audit-row-title">Row {detail.seq}</h2>
            <button type="button" class="secondary outline small" onClick={() => setDetail(null)}>
              Close
            </button>
          </div>
          <pre id="audit-detail" tabIndex={0}>
            {JSON.stringify(detail, null, 2)}
          </pre>
        </section>
      ) : null}
    </section>
  );
}

function VerifyResult({ verify }) {
  if (!verify || verify.busy) return null;
  if (verify.error) {
    return (
      <div id="verify-result">
        <ErrorAlert error={verify.error} />
      </div>
    );
  }
  const r = verify.report;
  if (r.ok) {
    return (
      <p id="verify-result" role="status" class="ok">
        Chain intact: {r.rows_checked} rows checked, head seq {r.head_seq} <ShortHash hash={r.head_hash} />; {r.payloads_checked} payloads
        checked, {r.payloads_purged} purged.
      </p>
    );
  }
  return (
    <div id="verify-result" role="alert" class="alert alert-error">
      <strong>Tampering found at seq {r.first_bad_seq}</strong>: {r.problem} ({r.rows_checked} rows checked, head seq {r.head_seq}).
    </div>
  );
}
