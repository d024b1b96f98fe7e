// Policies of the app: the current document, its versions, a diff between two of them, a dry run
// (POST .../policy/test, which uses no quota and creates no approval) with its per-rule trace,
// and an editor that applies a new version.
import { useEffect, useRef, useState } from 'preact/hooks';

import { get, post, put, seg } from '../api.js';
import { EmptyRow, ErrorAlert, Loading, NeedsApp, Notice, PageTitle, TableHead, Time, parseAttrLines, useLoad, yesNo } from '../ui.jsx';

const VERSION_COLUMNS = ['Version', 'Applied', 'By', 'Format', 'Rules'];
const TRACE_COLUMNS = ['#', 'Rule', 'Effect', 'Matched', 'Outcome', 'Why'];

export function Policies({ app }) {
  const base = `/v1/admin/apps/${seg(app)}`;
  const versions = useLoad(async () => (app ? get(`${base}/policies`) : null), [app]);
  const list = [...((versions.data && versions.data.versions) || [])].sort((a, b) => b.version - a.version);
  const latestNumber = list.length ? list[0].version : 0;
  const latest = useLoad(async () => (app && latestNumber ? get(`${base}/policies/${latestNumber}`) : null), [app, latestNumber]);
  const editor = useRef(null);

  if (!app) return <NeedsApp />;
  const current = latest.data;
  const reload = () => versions.reload();

  return (
    <section>
      <PageTitle>Policies</PageTitle>
      <Loading state={versions} />
      <ErrorAlert error={versions.error} />

      <section aria-labelledby="policy-current-title">
        <h2 id="policy-current-title">Current policy</h2>
        <ErrorAlert error={latest.error} />
        {versions.data && list.length === 0 ? <p>No policy has been applied to this app yet: every request is denied.</p> : null}
        {current ? (
          <>
            <p class="muted">
              Version {current.version} ({current.format}), applied by {current.author || 'unknown'} <Time iso={current.created_at} />
            </p>
            <pre id="policy-document" tabIndex={0}>
              {current.document}
            </pre>
          </>
        ) : null}
      </section>

      <Versions list={list} onEdit={(doc) => editor.current && editor.current.load(doc)} base={base} />
      <Diff list={list} base={base} />
      <DryRun app={app} base={base} />
      <Apply base={base} current={current} onApplied={reload} handle={editor} />
    </section>
  );
}

function Versions({ list, onEdit, base }) {
  const [error, setError] = useState(null);
  const edit = async (v) => {
    setError(null);
    try {
      const doc = await get(`${base}/policies/${v}`);
      onEdit(doc);
      const ta = document.getElementById('policy-editor');
      if (ta) ta.focus();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section aria-labelledby="policy-versions-title">
      <h2 id="policy-versions-title">Versions</h2>
      <ErrorAlert error={error} />
      <div class="overflow-auto">
        <table id="policy-versions" class="striped">
          <TableHead columns={VERSION_COLUMNS} actions />
          <tbody>
            {list.length === 0 ? (
              <EmptyRow columns={VERSION_COLUMNS} actions>No versions yet.</EmptyRow>
            ) : null}
            {list.map((v) => (
              <tr key={v.version} data-version={v.version}>
                <td>{v.version}</td>
                <td>
                  <Time iso={v.created_at} />
                </td>
                <td>{v.author}</td>
                <td>{v.format}</td>
                <td>{v.rules >= 0 ? v.rules : 'does not compile'}</td>
                <td>
                  <button type="button" class="secondary outline small" onClick={() => edit(v.version)}>
                    Edit a copy
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** The API's rule-by-rule diff as readable lines. */
function diffText(r) {
  const d = r.diff || {};
  const show = (v) => (v === undefined ? '(absent)' : JSON.stringify(v));
  const lines = [`Version ${r.from} → ${r.to}: ${d.summary || ''}`];
  for (const c of d.document || []) lines.push(`~ document ${c.field}: ${show(c.from)} → ${show(c.to)}`);
  for (const rule of d.added || []) lines.push(`+ added rule "${rule.id}" (${rule.effect})`, `    ${JSON.stringify(rule)}`);
  for (const rule of d.removed || []) lines.push(`- removed rule "${rule.id}" (${rule.effect})`, `    ${JSON.stringify(rule)}`);
  for (const c of d.changed || []) {
    lines.push(`~ changed rule "${c.id}"`);
    for (const ch of c.changes || []) lines.push(`    ${ch.field}: ${show(ch.from)} → ${show(ch.to)}`);
  }
  if (d.reordered) lines.push('Rules were reordered (order decides which granting rule is tried first).');
  return lines.join('\n');
}

function Diff({ list, base }) {
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [result, setResult] = useState(null); // {text} | {error}
  // Default: the previous version against the latest.
  const newest = list.length ? String(list[0].version) : '';
  const previous = list.length > 1 ? String(list[1].version) : newest;
  const f = from || previous;
  const t = to || newest;

  const submit = async (e) => {
    e.preventDefault();
    try {
      const r = await get(`${base}/policies/diff?from=${encodeURIComponent(f)}&to=${encodeURIComponent(t)}`);
      setResult({ text: diffText(r) });
    } catch (err) {
      setResult({ error: err });
    }
  };
  const options = list.map((v) => (
    <option key={v.version} value={String(v.version)}>
      {v.version}
    </option>
  ));
  return (
    <section aria-labelledby="policy-diff-title">
      <h2 id="policy-diff-title">Compare versions</h2>
      <form id="policy-diff-form" class="inline-form" onSubmit={submit}>
        <label>
          From
          <select id="diff-from" value={f} onChange={(e) => setFrom(e.currentTarget.value)} disabled={!list.length}>
            {options}
          </select>
        </label>
        <label>
          To
          <select id="diff-to" value={t} onChange={(e) => setTo(e.currentTarget.value)} disabled={!list.length}>
            {options}
          </select>
        </label>
        <button type="submit" disabled={!list.length}>
          Compare
        </button>
      </form>
      {result && result.error ? <ErrorAlert error={result.error} /> : null}
      {result && result.text ? (
        <pre id="policy-diff" tabIndex={0}>
          {result.text}
        </pre>
      ) : null}
    </section>
  );
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

function DryRun({ base }) {
  const [form, setForm] = useState({
    actor_type: 'ai_agent',
    actor_id: '',
    actor_name: '',
    provider_id: '',
    method: 'GET',
    url: '',
    user: '',
    reason: '',
    source_ip: '',
    at: '',
  });
  const [result, setResult] = useState(null); // {decision} | {error}
  const [busy, setBusy] = useState(false);
  const providers = useLoad(() => get('/v1/admin/providers'), []);
  const set = (name) => (e) => {
    const value = e.currentTarget.value;
    setForm((f) => ({ ...f, [name]: value }));
  };

  const submit = async (e) => {
    e.preventDefault();
    let user;
    try {
      user = parseAttrLines(form.user);
    } catch (err) {
      setResult({ error: { message: `User attributes: ${err.message}` } });
      return;
    }
    // Only the fields given: the API treats an absent field as "not part of the request".
    const body = { user };
    for (const k of ['actor_type', 'actor_id', 'actor_name', 'provider_id', 'method', 'url', 'reason', 'source_ip', 'at']) {
      const v = form[k].trim();
      if (v) body[k] = v;
    }
    setBusy(true);
    try {
      setResult({ decision: await post(`${base}/policy/test`, body) });
    } catch (err) {
      setResult({ error: err });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="dry-run-title">
      <h2 id="dry-run-title">Dry run</h2>
      <p class="muted">Evaluates a request against the current version. No token is issued, no quota used, no approval created.</p>
      <form id="dry-run" onSubmit={submit}>
        <div class="grid-auto">
          <label>
            Actor type
            <select id="dry-actor-type" value={form.actor_type} onChange={set('actor_type')}>
              <option value="ai_agent">ai_agent</option>
              <option value="mcp_server">mcp_server</option>
              <option value="application">application</option>
            </select>
          </label>
          <label>
            Actor id
            <input id="dry-actor-id" type="text" value={form.actor_id} onInput={set('actor_id')} placeholder="email-assistant-v2" />
          </label>
          <label>
            Actor name
            <input id="dry-actor-name" type="text" value={form.actor_name} onInput={set('actor_name')} />
          </label>
          <label>
            Provider
            <input id="dry-provider" type="text" list="dry-provider-ids" required value={form.provider_id} onInput={set('provider_id')} />
            <datalist id="dry-provider-ids">
              {((providers.data && providers.data.providers) || []).map((p) => (
                <option key={p.id} value={p.id} />
              ))}
            </datalist>
          </label>
          <label>
            Method
            <select id="dry-method" value={form.method} onChange={set('method')}>
              {METHODS.map((m) => (
                <option key={m} value={m}>
                  {m}
                </option>
              ))}
            </select>
          </label>
          <label>
            Source IP
            <input id="dry-source-ip" type="text" value={form.source_ip} onInput={set('source_ip')} placeholder="203.0.113.7" />
          </label>
          <label>
            At
            <input id="dry-at" type="text" value={form.at} onInput={set('at')} placeholder="now, or 2026-01-05T10:00:00Z" aria-describedby="dry-at-help" />
            <small id="dry-at-help">an ISO 8601 time, for time windows; empty: now</small>
          </label>
        </div>
        <label>
          URL
          <input id="dry-url" type="url" required value={form.url} onInput={set('url')} placeholder="https://www.googleapis.com/calendar/v3/calendars/primary/events" />
        </label>
        <div class="grid">
          <label>
            User attributes
            <textarea id="dry-user" rows={3} value={form.user} onInput={set('user')} placeholder="user_id=alice" aria-describedby="dry-user-help" />
            <small id="dry-user-help">one name=value per line</small>
          </label>
          <label>
            Reason
            <textarea id="dry-reason" rows={3} value={form.reason} onInput={set('reason')} />
          </label>
        </div>
        <button type="submit" disabled={busy} aria-busy={busy ? 'true' : undefined}>
          Run dry run
        </button>
      </form>
      <div id="dry-run-result" aria-live="polite">
        {result && result.error ? <ErrorAlert error={result.error} /> : null}
        {result && result.decision ? <Decision d={result.decision} /> : null}
      </div>
    </section>
  );
}

function Decision({ d }) {
  const trace = Array.isArray(d.trace) ? d.trace : [];
  return (
    <article>
      <p class={`decision-line effect-${d.effect}`}>
        Decision: <strong id="dry-run-effect">{d.effect}</strong>
        {d.policy_error ? (
          <>
            {' '}
            (<code id="dry-run-error">{d.policy_error}</code>)
          </>
        ) : null}
        {d.rule_id ? (
          <>
            {' '}
            by rule <code id="dry-run-rule">{d.rule_id}</code>
          </>
        ) : null}
        {d.policy_version ? ` — policy version ${d.policy_version}` : ''}
      </p>
      {d.message ? <p id="dry-run-message">{d.message}</p> : null}
      <div class="overflow-auto">
        <table id="dry-run-trace" class="striped">
          <caption class="muted">Trace: every rule, in document order</caption>
          <TableHead columns={TRACE_COLUMNS} />
          <tbody>
            {trace.length === 0 ? (
              <EmptyRow columns={TRACE_COLUMNS}>No rules.</EmptyRow>
            ) : null}
            {trace.map((t, i) => (
              <tr key={`${t.rule}-${i}`} data-rule={t.rule} class={t.outcome === 'selected' ? 'selected' : undefined}>
                <td>{t.index ?? i}</td>
                <td>
                  <code>{t.rule}</code>
                </td>
                <td>{t.effect}</td>
                <td>{yesNo(t.matched)}</td>
                <td>
                  {t.outcome}
                  {t.policy_error ? (
                    <>
                      {' '}
                      (<code>{t.policy_error}</code>)
                    </>
                  ) : null}
                </td>
                <td>
                  <TraceWhy t={t} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </article>
  );
}

function TraceWhy({ t }) {
  const mismatches = Array.isArray(t.mismatches) ? t.mismatches : [];
  const conditions = Array.isArray(t.conditions) ? t.conditions : [];
  if (!mismatches.length && !conditions.length) return <span class="muted">—</span>;
  return (
    <ul class="why">
      {mismatches.map((m, i) => (
        <li key={`m${i}`}>{typeof m === 'string' ? m : JSON.stringify(m)}</li>
      ))}
      {conditions.map((c, i) => (
        <li key={`c${i}`} class={c.ok ? 'ok' : 'bad'}>
          {c.condition}: {c.ok ? 'ok' : 'failed'}
          {c.detail ? ` — ${c.detail}` : ''}
        </li>
      ))}
    </ul>
  );
}

/**
 * The problems of a refused document as {line, text}. The API's message reads "invalid policy:
 * line 12: rules[2].effect: must be ..."; a details object with line/field/message (or a list of
 * them under "errors") is used when the API gives one.
 */
export function policyProblems(err) {
  const message = String((err && err.message) || err || '').replace(/^invalid policy:\s*/, '');
  const d = (err && err.details) || {};
  const listed = Array.isArray(d.errors) ? d.errors : d.line || d.field ? [d] : [];
  const items = listed
    .filter((e) => e && typeof e === 'object')
    .map((e) => ({
      line: Number(e.line) || 0,
      text: [e.field, e.message].filter(Boolean).join(': ') || message.replace(/^line \d+(?:, column \d+)?:\s*/, ''),
    }));
  if (items.length) return items;
  const m = /^line (\d+)(?:, column \d+)?:\s*([\s\S]*)$/.exec(message);
  if (m) return [{ line: Number(m[1]), text: m[2] }];
  return [{ line: 0, text: message }];
}

/** Selects line `n` (1-based) of a textarea, so "line 12" takes the user there. */
function selectLine(textarea, n) {
  const lines = textarea.value.split('\n');
  let start = 0;
  for (let i = 0; i < n - 1 && i < lines.length; i++) start += lines[i].length + 1;
  const end = start + (lines[n - 1] || '').length;
  textarea.focus();
  textarea.setSelectionRange(start, end);
  // Scroll roughly to the line: the textarea does not scroll to a selection by itself everywhere.
  const lineHeight = textarea.scrollHeight / Math.max(lines.length, 1);
  textarea.scrollTop = Math.max(0, (n - 3) * lineHeight);
}

function Apply({ base, current, onApplied, handle }) {
  const [text, setText] = useState('');
  const [format, setFormat] = useState('toml');
  const [edited, setEdited] = useState(false);
  const [problems, setProblems] = useState(null); // [{line, text}] or an error without lines
  const [applied, setApplied] = useState(null);
  const [busy, setBusy] = useState(false);
  const area = useRef(null);

  // Prefill with the current document until the user types.
  useEffect(() => {
    if (current && !edited) {
      setText(current.document || '');
      setFormat(current.format === 'json' ? 'json' : 'toml');
    }
  }, [current && current.version]);

  // "Edit a copy" of an older version puts its document here.
  handle.current = {
    load(doc) {
      setText(doc.document || '');
      setFormat(doc.format === 'json' ? 'json' : 'toml');
      setEdited(true);
      setProblems(null);
      setApplied(null);
    },
  };

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setProblems(null);
    setApplied(null);
    try {
      const r = await put(`${base}/policy`, { document: text, format });
      setApplied(r);
      setEdited(false);
      onApplied();
    } catch (err) {
      setProblems(err.code === 'invalid_policy' ? { items: policyProblems(err) } : { error: err });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="policy-apply-title">
      <h2 id="policy-apply-title">Apply a new version</h2>
      <form id="policy-apply" onSubmit={submit}>
        <label for="policy-editor">Policy document</label>
        <textarea
          id="policy-editor"
          ref={area}
          rows={18}
          spellcheck={false}
          autocapitalize="off"
          class="code"
          value={text}
          aria-describedby="policy-errors"
          aria-invalid={problems && problems.items ? 'true' : undefined}
          onInput={(e) => {
            setText(e.currentTarget.value);
            setEdited(true);
          }}
        />
        <div class="inline-form">
          <label>
            Format
            <select id="policy-format" value={format} onChange={(e) => setFormat(e.currentTarget.value)}>
              <option value="toml">TOML</option>
              <option value="json">JSON</option>
              <option value="auto">auto (JSON when it starts with a brace)</option>
            </select>
          </label>
          <button type="submit" disabled={busy || !text.trim()} aria-busy={busy ? 'true' : undefined}>
            Apply
          </button>
          <button
            type="button"
            class="secondary outline"
            disabled={!current}
            onClick={() => {
              setText(current.document || '');
              setEdited(false);
              setProblems(null);
            }}
          >
            Reset to current
          </button>
        </div>
      </form>
      <div id="policy-errors">
        {problems && problems.items ? (
          <div class="alert alert-error" role="alert">
            <strong>The document was refused; nothing was stored.</strong>
            <ul>
              {problems.items.map((p, i) => (
                <li key={i} data-line={p.line || undefined}>
                  {p.line ? (
                    <>
                      <button type="button" class="link" title="Select this line in the editor" onClick={() => area.current && selectLine(area.current, p.line)}>
                        line {p.line}
                      </button>
                      : {p.text}
                    </>
                  ) : (
                    p.text
                  )}
                </li>
              ))}
            </ul>
          </div>
        ) : null}
        {problems && problems.error ? <ErrorAlert error={problems.error} /> : null}
      </div>
      {applied ? (
        <div id="policy-applied">
          <Notice>
            Applied version {applied.version} ({applied.rules} rule{applied.rules === 1 ? '' : 's'}); it applies to the next request.
          </Notice>
        </div>
      ) : null}
    </section>
  );
}
