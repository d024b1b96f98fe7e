// Keys and apps: the app's API keys (a new key is shown once, then dropped from memory), the apps,
// and the app's provider credentials (client ids; a client secret is only ever sent, never shown).
import { useRef, useState } from 'preact/hooks';

import { get, post, put, seg } from '../api.js';
import { EmptyRow, ErrorAlert, Loading, NeedsApp, Notice, PageTitle, TableHead, Time, useLoad, yesNo } from '../ui.jsx';

const KEY_COLUMNS = ['Name', 'Hint', 'Created', 'Revoked'];
const APP_COLUMNS = ['ID', 'Name', 'Created', 'Return URLs', 'Audit capture'];
const CREDENTIAL_COLUMNS = ['Provider', 'Client ID', 'Secret set', 'Updated'];

export function Keys({ app, apps, reloadApps }) {
  return (
    <section>
      <PageTitle>Keys and apps</PageTitle>
      {app ? <ApiKeys app={app} /> : <NeedsApp />}
      {app ? <Credentials app={app} /> : null}
      <Apps apps={apps} reloadApps={reloadApps} />
    </section>
  );
}

function ApiKeys({ app }) {
  const base = `/v1/admin/apps/${seg(app)}`;
  const keys = useLoad(() => get(`${base}/keys`), [app]);
  const [name, setName] = useState('');
  // The new key lives only here: gone with "Done", with a change of app or page (unmount).
  const [created, setCreated] = useState(null);
  const [result, setResult] = useState(null); // {text} | {error}
  const [busy, setBusy] = useState(false);
  const rows = (keys.data && keys.data.keys) || [];

  const create = async (e) => {
    e.preventDefault();
    setBusy(true);
    setResult(null);
    try {
      const k = await post(`${base}/keys`, name.trim() ? { name: name.trim() } : {});
      setCreated({ id: k.id, key: k.key, hint: k.hint, name: k.name });
      setName('');
      keys.reload();
    } catch (err) {
      setResult({ error: err });
    } finally {
      setBusy(false);
    }
  };

  const revoke = async (k) => {
    if (!window.confirm(`Revoke the API key ${k.name || k.hint || k.id}? Requests with it are refused from the next one on.`)) return;
    setResult(null);
    try {
      await post(`/v1/admin/keys/${seg(k.id)}/revoke`);
      setResult({ text: `Revoked ${k.name || k.id}.` });
      keys.reload();
    } catch (err) {
      setResult({ error: err });
    }
  };

  return (
    <section aria-labelledby="keys-title">
      <h2 id="keys-title">API keys of {app}</h2>
      <Loading state={keys} />
      <ErrorAlert error={keys.error} />
      <div class="overflow-auto">
        <table id="keys" class="striped">
          <TableHead columns={KEY_COLUMNS} actions />
          <tbody>
            {keys.data && rows.length === 0 ? (
              <EmptyRow columns={KEY_COLUMNS} actions>No API keys yet.</EmptyRow>
            ) : null}
            {rows.map((k) => (
              <tr key={k.id} data-key-id={k.id}>
                <td>{k.name || <span class="muted">(unnamed)</span>}</td>
                <td>
                  <code>{k.hint}</code>
                </td>
                <td>
                  <Time iso={k.created_at} />
                </td>
                <td>{k.revoked ? <>yes{k.revoked_at ? <> (<Time iso={k.revoked_at} />)</> : null}</> : 'no'}</td>
                <td>
                  {k.revoked ? null : (
                    <button type="button" class="danger outline small" onClick={() => revoke(k)}>
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {result ? result.error ? <ErrorAlert error={result.error} /> : <Notice id="key-result">{result.text}</Notice> : null}

      {created ? <NewKey created={created} onDone={() => setCreated(null)} /> : null}

      <form id="create-key" class="inline-form" onSubmit={create}>
        <label>
          Name
          <input id="key-name" type="text" value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="production" maxLength={200} />
        </label>
        <button type="submit" disabled={busy} aria-busy={busy ? 'true' : undefined}>
          Create key
        </button>
      </form>
    </section>
  );
}

function NewKey({ created, onDone }) {
  const input = useRef(null);
  const [copied, setCopied] = useState('');
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created.key);
      setCopied('Copied.');
    } catch {
      // The clipboard API needs a secure context; select the text so Ctrl+C works.
      if (input.current) input.current.select();
      setCopied('Selected: press Ctrl+C (or ⌘C) to copy.');
    }
  };
  return (
    <article id="new-key" aria-labelledby="new-key-title">
      <h3 id="new-key-title">New API key{created.name ? ` “${created.name}”` : ''}</h3>
      <label for="new-key-value">Key</label>
      <input id="new-key-value" type="text" readOnly value={created.key} ref={input} onFocus={(e) => e.currentTarget.select()} autocomplete="off" spellcheck={false} />
      <p>
        <strong>Shown once: copy it now.</strong> The vault keeps only its hash.
      </p>
      <div class="actions">
        <button type="button" class="secondary" onClick={copy}>
          Copy
        </button>
        <button type="button" id="new-key-done" onClick={onDone}>
          Done
        </button>
        <span role="status">{copied}</span>
      </div>
    </article>
  );
}

function Apps({ apps, reloadApps }) {
  const [id, setId] = useState('');
  const [name, setName] = useState('');
  const [result, setResult] = useState(null);
  const [busy, setBusy] = useState(false);
  const create = async (e) => {
    e.preventDefault();
    setBusy(true);
    setResult(null);
    try {
      const body = { id: id.trim() };
      if (name.trim()) body.name = name.trim();
      const a = await post('/v1/admin/apps', body);
      setResult({ text: `Created app ${a.id}.` });
      setId('');
      setName('');
      reloadApps();
    } catch (err) {
      setResult({ error: err });
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="apps-title">
      <h2 id="apps-title">Apps</h2>
      <div class="overflow-auto">
        <table id="apps" class="striped">
          <TableHead columns={APP_COLUMNS} />
          <tbody>
            {apps.map((a) => (
              <tr key={a.id} data-app-id={a.id}>
                <td>
                  <code>{a.id}</code>
                </td>
                <td>{a.name}</td>
                <td>
                  <Time iso={a.created_at} />
                </td>
                <td>{(a.return_url_allowlist || []).join(' ') || <span class="muted">—</span>}</td>
                <td>{(a.settings && a.settings.audit_capture) || <span class="muted">—</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {result ? result.error ? <ErrorAlert error={result.error} /> : <Notice id="app-result">{result.text}</Notice> : null}
      <form id="create-app" class="inline-form" onSubmit={create}>
        <label>
          ID
          <input
            id="new-app-id"
            type="text"
            required
            pattern="[a-z0-9][a-z0-9_\-]{0,63}"
            value={id}
            onInput={(e) => setId(e.currentTarget.value)}
            placeholder="crm"
            aria-describedby="new-app-id-help"
          />
          <small id="new-app-id-help">lower-case letters, digits, - and _</small>
        </label>
        <label>
          Name
          <input id="new-app-name" type="text" value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="CRM agent" maxLength={200} />
        </label>
        <button type="submit" disabled={busy} aria-busy={busy ? 'true' : undefined}>
          Create app
        </button>
      </form>
    </section>
  );
}

function Credentials({ app }) {
  const base = `/v1/admin/apps/${seg(app)}`;
  const creds = useLoad(() => get(`${base}/providers`), [app]);
  const catalog = useLoad(() => get('/v1/admin/providers'), []);
  const [provider, setProvider] = useState('');
  const [clientId, setClientId] = useState('');
  const [result, setResult] = useState(null);
  const [busy, setBusy] = useState(false);
  // The secret is read from the input when saving, never kept in state, and the input emptied after.
  const secret = useRef(null);
  const rows = (creds.data && creds.data.providers) || [];
  const providers = ((catalog.data && catalog.data.providers) || []).slice().sort((a, b) => a.id.localeCompare(b.id));
  const chosen = provider || (providers[0] && providers[0].id) || '';

  const save = async (e) => {
    e.preventDefault();
    setBusy(true);
    setResult(null);
    const body = { client_id: clientId.trim() };
    const s = secret.current ? secret.current.value : '';
    if (s) body.client_secret = s;
    try {
      const c = await put(`${base}/providers/${seg(chosen)}`, body);
      if (secret.current) secret.current.value = '';
      setResult({ text: `Saved the ${c.provider_id} credential (client secret set: ${yesNo(c.has_client_secret)}).` });
      creds.reload();
    } catch (err) {
      setResult({ error: err });
    } finally {
      body.client_secret = undefined;
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="credentials-title">
      <h2 id="credentials-title">Provider credentials of {app}</h2>
      <Loading state={creds} />
      <ErrorAlert error={creds.error} />
      <div class="overflow-auto">
        <table id="credentials" class="striped">
          <TableHead columns={CREDENTIAL_COLUMNS} />
          <tbody>
            {creds.data && rows.length === 0 ? (
              <EmptyRow columns={CREDENTIAL_COLUMNS}>No provider credentials yet.</EmptyRow>
            ) : null}
            {rows.map((c) => (
              <tr key={c.provider_id} data-provider-id={c.provider_id}>
                <td>{c.provider_id}</td>
                <td>
                  <code>{c.client_id}</code>
                </td>
                <td>{yesNo(c.has_client_secret)}</td>
                <td>
                  <Time iso={c.updated_at} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {result ? result.error ? <ErrorAlert error={result.error} /> : <Notice id="credential-result">{result.text}</Notice> : null}
      <form id="credential-form" onSubmit={save}>
        <div class="grid-auto">
          <label>
            Provider
            <select id="cred-provider" value={chosen} onChange={(e) => setProvider(e.currentTarget.value)}>
              {providers.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.display_name ? `${p.display_name} (${p.id})` : p.id}
                </option>
              ))}
            </select>
          </label>
          <label>
            Client ID
            <input id="cred-client-id" type="text" required value={clientId} onInput={(e) => setClientId(e.currentTarget.value)} autocomplete="off" spellcheck={false} />
          </label>
          <label>
            Client secret
            <input id="cred-client-secret" type="password" autocomplete="new-password" ref={secret} aria-describedby="cred-secret-help" />
            <small id="cred-secret-help">Never shown again. Saving without one stores the credential with no secret (a public client).</small>
          </label>
        </div>
        <button type="submit" disabled={busy || !chosen} aria-busy={busy ? 'true' : undefined}>
          Save credential
        </button>
      </form>
    </section>
  );
}
