// Connections of the app: a filtered list, one connection's details with refresh and delete, and
// the users whose connection needs a new consent, each with a fresh connect link. The API never
// returns tokens; the detail view still leaves out anything named like a token or a secret.
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';

import { ApiError, del, get, post, qs, seg } from '../api.js';
import { EmptyRow, ErrorAlert, Loading, NeedsApp, Notice, PageTitle, TableHead, Time, attrText, parseAttrLines, useLoad } from '../ui.jsx';

const CONNECTION_COLUMNS = ['ID', 'Provider', 'User', 'Status', 'Scopes', 'Expires', 'Updated'];

export function Connections({ app }) {
  const [filter, setFilter] = useState({ provider: '', status: '', attrs: {} });
  const [selected, setSelected] = useState(null);
  const [result, setResult] = useState(null); // {text} or {error}

  const providers = useLoad(() => get('/v1/admin/providers'), []);
  const list = useLoad(async () => {
    if (!app) return null;
    const query = { provider: filter.provider, status: filter.status };
    for (const [k, v] of Object.entries(filter.attrs)) query[`attr.${k}`] = v;
    return get(`/v1/admin/apps/${seg(app)}/connections${qs(query)}`);
  }, [app, JSON.stringify(filter)]);
  const reauth = useLoad(async () => (app ? get(`/v1/admin/apps/${seg(app)}/connections?status=reauth_required`) : null), [app]);

  if (!app) return <NeedsApp />;
  const providerIds = ((providers.data && providers.data.providers) || []).map((p) => p.id).sort();
  const rows = (list.data && list.data.connections) || [];

  const changed = () => {
    list.reload();
    reauth.reload();
  };

  return (
    <section>
      <PageTitle>Connections</PageTitle>
      <Filters providerIds={providerIds} onApply={setFilter} />
      <Loading state={list} />
      <ErrorAlert error={list.error} />
      {list.data ? (
        <div class="overflow-auto">
          <table id="connections" class="striped">
            <caption class="muted">
              {rows.length} connection{rows.length === 1 ? '' : 's'}
              {rows.length >= 1000 ? ' (the first 1000; narrow the filter)' : ''}
            </caption>
            <TableHead columns={CONNECTION_COLUMNS} actions />
            <tbody>
              {rows.length === 0 ? (
                <EmptyRow columns={CONNECTION_COLUMNS} actions>No connections match.</EmptyRow>
              ) : null}
              {rows.map((c) => (
                <tr key={c.id} data-connection-id={c.id} aria-selected={selected === c.id ? 'true' : undefined}>
                  <td>
                    <code>{c.id}</code>
                  </td>
                  <td>{c.provider_id}</td>
                  <td>{attrText(c.attributes)}</td>
                  <td>
                    <span class={`status status-${c.status}`}>{c.status}</span>
                  </td>
                  <td>{(c.scopes || []).join(' ')}</td>
                  <td>
                    <Time iso={c.expires_at} />
                  </td>
                  <td>
                    <Time iso={c.updated_at} />
                  </td>
                  <td>
                    <button
                      type="button"
                      class="secondary outline small"
                      onClick={() => {
                        setResult(null);
                        setSelected(c.id);
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
      ) : null}

      {result ? (
        <div id="connection-result">
          {result.error ? <ErrorAlert error={result.error} /> : <Notice>{result.text}</Notice>}
        </div>
      ) : null}

      {selected ? (
        <Detail
          key={selected}
          id={selected}
          onResult={setResult}
          onClose={() => setSelected(null)}
          onDeleted={() => {
            setSelected(null);
            changed();
          }}
          onRefreshed={changed}
        />
      ) : null}

      <Reconnect app={app} state={reauth} />
    </section>
  );
}

function Filters({ providerIds, onApply }) {
  const [provider, setProvider] = useState('');
  const [status, setStatus] = useState('');
  const [attr, setAttr] = useState('');
  const [error, setError] = useState(null);
  const submit = (e) => {
    e.preventDefault();
    try {
      const attrs = parseAttrLines(attr, /,/);
      setError(null);
      onApply({ provider, status, attrs });
    } catch (err) {
      setError({ message: `User attribute: ${err.message}` });
    }
  };
  return (
    <form id="connection-filters" class="filters" onSubmit={submit}>
      <div class="grid">
        <label>
          Provider
          <select id="conn-provider" value={provider} onChange={(e) => setProvider(e.currentTarget.value)}>
            <option value="">All providers</option>
            {providerIds.map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select id="conn-status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">All</option>
            <option value="active">active</option>
            <option value="reauth_required">reauth_required</option>
          </select>
        </label>
        <label>
          User attribute
          <input
            id="conn-attr"
            type="text"
            placeholder="user_id=alice"
            value={attr}
            onInput={(e) => setAttr(e.currentTarget.value)}
            aria-describedby="conn-attr-help"
          />
          <small id="conn-attr-help">name=value; several separated by commas</small>
        </label>
      </div>
      <ErrorAlert error={error} />
      <button type="submit">Filter</button>
    </form>
  );
}

// Fields of a connection that are never shown, should a future version of the API add them.
const HIDDEN_FIELD = /token|secret/i;

function fieldValue(key, value) {
  if (value === null || value === undefined || value === '') return <span class="muted">—</span>;
  if (/_at$/.test(key) && typeof value === 'string') return <Time iso={value} />;
  if (key === 'attributes') return attrText(value);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.join(' ') || <span class="muted">—</span>;
  if (typeof value === 'object') return <pre class="json">{JSON.stringify(value, null, 2)}</pre>;
  return String(value);
}

function Detail({ id, onResult, onClose, onDeleted, onRefreshed }) {
  const state = useLoad(() => get(`/v1/admin/connections/${seg(id)}`), [id]);
  const [busy, setBusy] = useState('');
  const c = state.data;

  const refresh = async () => {
    setBusy('refresh');
    onResult(null);
    try {
      const after = await post(`/v1/admin/connections/${seg(id)}/refresh`);
      onResult({
        text: `Refreshed ${after.id}: status ${after.status}, expires ${after.expires_at ? new Date(after.expires_at).toLocaleString() : 'never'}.`,
      });
      state.reload();
      onRefreshed();
    } catch (err) {
      onResult({ error: err });
    } finally {
      setBusy('');
    }
  };

  const remove = async () => {
    if (!window.confirm(`Delete connection ${id}? The vault revokes its tokens at the provider where it can, then deletes it.`)) return;
    setBusy('delete');
    onResult(null);
    try {
      const r = await del(`/v1/admin/connections/${seg(id)}`);
      const rev = r.revocation || {};
      let text = `Deleted ${id}. Revocation at the provider: `;
      if (!rev.attempted) text += 'not attempted (the provider has no revocation endpoint).';
      else text += rev.ok ? 'attempted, ok.' : `attempted, failed${rev.error ? `: ${rev.error}` : '.'}`;
      onResult({ text });
      onDeleted();
    } catch (err) {
      onResult({ error: err });
      setBusy('');
    }
  };

  return (
    <section id="connection-detail" aria-labelledby="connection-detail-title">
      <article>
        <header class="page-head">
          <h2 id="connection-detail-title">
            Connection <code>{id}</code>
          </h2>
          <button type="button" class="secondary outline small" onClick={onClose}>
            Close
          </button>
        </header>
        <Loading state={state} />
        <ErrorAlert error={state.error} />
        {c ? (
          <dl class="facts">
            {Object.entries(c)
              .filter(([k]) => k === 'token_type' || !HIDDEN_FIELD.test(k))
              .map(([k, v]) => (
                <Fragment key={k}>
                  <dt>{k}</dt>
                  <dd data-field={k}>{fieldValue(k, v)}</dd>
                </Fragment>
              ))}
          </dl>
        ) : null}
        <footer class="actions">
          <button type="button" id="connection-refresh" onClick={refresh} disabled={!!busy} aria-busy={busy === 'refresh' ? 'true' : undefined}>
            Refresh
          </button>
          <button type="button" id="connection-delete" class="danger" onClick={remove} disabled={!!busy} aria-busy={busy === 'delete' ? 'true' : undefined}>
            Delete
          </button>
        </footer>
      </article>
    </section>
  );
}

function Reconnect({ app, state }) {
  const [links, setLinks] = useState({}); // connection id -> {busy} | {link} | {error}
  const rows = (state.data && state.data.connections) || [];

  const newLink = async (c) => {
    setLinks((l) => ({ ...l, [c.id]: { busy: true } }));
    try {
      const link = await post(`/v1/admin/apps/${seg(app)}/connect-sessions`, { provider_id: c.provider_id, attributes: c.attributes || {} });
      setLinks((l) => ({ ...l, [c.id]: { link } }));
    } catch (err) {
      setLinks((l) => ({ ...l, [c.id]: { error: err instanceof ApiError ? err : { message: String(err) } } }));
    }
  };

  return (
    <section id="reconnect" aria-labelledby="reconnect-title">
      <h2 id="reconnect-title">Users who must reconnect</h2>
      <Loading state={state} />
      <ErrorAlert error={state.error} />
      {state.data && rows.length === 0 ? <p>Nobody: every connection of this app is active.</p> : null}
      <ul class="cards">
        {rows.map((c) => {
          const l = links[c.id] || {};
          return (
            <li key={c.id} data-connection-id={c.id}>
              <article>
                <p>
                  <strong>{attrText(c.attributes) || '(no attributes)'}</strong> on <strong>{c.provider_id}</strong>
                  <br />
                  <small class="muted">
                    <code>{c.id}</code>, updated <Time iso={c.updated_at} />
                  </small>
                </p>
                <button type="button" onClick={() => newLink(c)} disabled={l.busy} aria-busy={l.busy ? 'true' : undefined}>
                  New connect link
                </button>
                {l.link ? (
                  <div class="connect-result" role="status">
                    <label>
                      Connect link for {attrText(c.attributes)}
                      <input class="connect-link" type="text" readOnly value={l.link.connect_url} onFocus={(e) => e.currentTarget.select()} />
                    </label>
                    <small>
                      Send it to the user; it expires <Time iso={l.link.expires_at} />.
                    </small>
                  </div>
                ) : null}
                <ErrorAlert error={l.error} />
              </article>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
