// Drives the web console (/console/) in headless Debian chromium through playwright-core (no
// browser is ever downloaded), as a person would: sign in, every page, approve and deny while SDK
// calls wait, filter and export the audit trail, a policy dry run and apply, keys, apps and a
// provider secret, sign out; then CSRF, a replayed cookie and an expired session refused.
//
// Run by console_e2e_test.cpp, which sets the scene. Everything comes from the environment (never
// argv, where `ps` would show the credentials):
//   ALTER_CONSOLE_URL, ALTER_CONSOLE_ADMIN_TOKEN              the vault and its admin credential
//   ALTER_CONSOLE_SHORT_URL, ALTER_CONSOLE_SHORT_ADMIN_TOKEN  a vault whose sessions last 2 s
//   ALTER_CONSOLE_PROVIDER_URL                                the fake provider (for the dry run)
//   ALTER_CONSOLE_ALICE, _BOB, _CAROL                         connection ids (bob must reconnect)
//   ALTER_CONSOLE_PROVIDER_SECRET                             the client secret to type in
//   ALTER_CONSOLE_SECRETS                                     JSON array: never in the DOM
//   ALTER_CONSOLE_SIGNALS                                     a directory: "approvals-open" is
//                                                             written there when the approvals page
//                                                             shows the first request
//   ALTER_CONSOLE_SCREENSHOTS                                 where the PNGs go
//   ALTER_E2E_CHROMIUM                                        the browser (default /usr/bin/chromium)
//
// Every step asserts what it shows; after each step the whole DOM (markup, input values, storage,
// document.cookie) is searched for every secret, every form control must have a label, and no
// Content-Security-Policy violation or console error may have happened. On success prints one JSON
// line: {"steps": [{name, ms}], "screenshots": [...], "created_key_id": "..."}. On failure exits 1
// naming the step and the page. Nothing printed ever holds a secret (they are masked).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

const env = process.env;
function need(name) {
  if (!env[name]) {
    process.stderr.write(`console.mjs: ${name} is not set\n`);
    process.exit(2);
  }
  return env[name];
}
const base = need('ALTER_CONSOLE_URL').replace(/\/+$/, '');
const adminToken = need('ALTER_CONSOLE_ADMIN_TOKEN');
const shortBase = need('ALTER_CONSOLE_SHORT_URL').replace(/\/+$/, '');
const shortToken = need('ALTER_CONSOLE_SHORT_ADMIN_TOKEN');
const providerUrl = need('ALTER_CONSOLE_PROVIDER_URL').replace(/\/+$/, '');
const alice = need('ALTER_CONSOLE_ALICE');
const bob = need('ALTER_CONSOLE_BOB');
const carol = need('ALTER_CONSOLE_CAROL');
const providerSecret = need('ALTER_CONSOLE_PROVIDER_SECRET');
const secrets = JSON.parse(need('ALTER_CONSOLE_SECRETS')).filter((s) => typeof s === 'string' && s.length >= 8);
secrets.push(adminToken, shortToken, providerSecret);
const signals = need('ALTER_CONSOLE_SIGNALS');
const shotsDir = need('ALTER_CONSOLE_SCREENSHOTS');
const chromiumPath = env.ALTER_E2E_CHROMIUM || '/usr/bin/chromium';
const TIMEOUT = 20000;
const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 375, height: 740 };

const mask = (text) => {
  let out = String(text);
  for (const s of secrets) out = out.split(s).join('[secret]');
  return out;
};
const log = (m) => process.stderr.write(`console.mjs: ${mask(m)}\n`);

const watchdog = setTimeout(() => {
  log('gave up after 240 s');
  process.exit(3);
}, 240000);
watchdog.unref();

function check(condition, message) {
  if (!condition) throw new Error(message);
}

// ---- the browser: only loopback is reachable; CSP violations, page errors and console errors recorded ----
const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
  timeout: TIMEOUT,
});
const problems = [];
const requests = []; // console errors, page errors, requests off loopback
// A refusal the console shows as a message is still logged by Chromium as "Failed to load
// resource"; those for the statuses the steps provoke on purpose are expected.
const EXPECTED_REFUSAL = /^Failed to load resource: the server responded with a status of (400|401|403) /;

async function newContext(viewport = DESKTOP) {
  const context = await browser.newContext({ viewport, acceptDownloads: true, locale: 'en-US', timezoneId: 'UTC' });
  context.setDefaultTimeout(TIMEOUT);
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1') return route.continue();
    problems.push(`a request off loopback: ${url.origin}`);
    return route.abort('blockedbyclient');
  });
  await context.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  const page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !EXPECTED_REFUSAL.test(msg.text())) problems.push(`console error: ${msg.text()}`);
  });
  page.on('request', (r) => requests.push(`${r.method()} ${new URL(r.url()).pathname}`));
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  return { context, page };
}

async function describe(page) {
  try {
    const text = (await page.locator('body').innerText({ timeout: 2000 })).replace(/\s+/g, ' ').slice(0, 600);
    return `title "${await page.title()}", URL ${page.url()}, text: ${text}`;
  } catch (e) {
    return `URL ${page.url()} (${e.message})`;
  }
}

/** Everything a script on the page could read: markup, control values, storage, document.cookie. */
function readable(page) {
  return page.evaluate(() => {
    const parts = [document.documentElement.outerHTML, document.cookie, document.title, window.location.href];
    for (const el of document.querySelectorAll('input, textarea, select')) parts.push(el.value);
    for (const store of [window.localStorage, window.sessionStorage]) {
      for (let i = 0; i < store.length; i++) parts.push(store.key(i), store.getItem(store.key(i)));
    }
    return parts.join('\n');
  });
}

async function pageIsClean(page, where) {
  const text = await readable(page);
  secrets.forEach((s, i) => check(!text.includes(s), `secret #${i} (${s.length} characters) is readable in the page after ${where}`));
  check(!text.includes('alter_console='), `the session cookie is readable by scripts after ${where}`);
  const a11y = await page.evaluate(() => {
    const unlabeled = [...document.querySelectorAll('input, select, textarea')]
      .filter((el) => el.type !== 'hidden' && !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
      .map((el) => el.id || el.name || el.outerHTML.slice(0, 60));
    const nameless = [...document.querySelectorAll('button, a[href]')]
      .filter((el) => !el.textContent.trim() && !el.getAttribute('aria-label') && !el.getAttribute('title'))
      .map((el) => el.outerHTML.slice(0, 80));
    return { unlabeled, nameless, csp: window.__cspViolations || [] };
  });
  check(a11y.unlabeled.length === 0, `form controls without a label after ${where}: ${a11y.unlabeled.join(', ')}`);
  check(a11y.nameless.length === 0, `buttons or links without a name after ${where}: ${a11y.nameless.join(', ')}`);
  check(a11y.csp.length === 0, `Content-Security-Policy violations after ${where}: ${a11y.csp.join('; ')}`);
  check(problems.length === 0, `after ${where}: ${problems.join('; ')}`);
}

const steps = [];
const screenshots = [];
mkdirSync(shotsDir, { recursive: true });

async function shot(page, name, fullPage = true) {
  await page.evaluate(() => {
    if (document.activeElement) document.activeElement.blur();
    for (const el of document.querySelectorAll('.overflow-auto')) el.scrollLeft = 0;
  });
  await page.screenshot({ path: join(shotsDir, `${name}.png`), fullPage, animations: 'disabled' });
  screenshots.push(`${name}.png`);
}

async function step(page, name, fn) {
  const t0 = Date.now();
  log(`step: ${name}`);
  try {
    await fn();
    await pageIsClean(page, name);
  } catch (err) {
    throw new Error(`step "${name}" failed: ${err.message}\n  page: ${await describe(page)}`);
  }
  steps.push({ name, ms: Date.now() - t0 });
}

const text = (page, selector) => page.locator(selector).first().innerText();
/** Waits until `selector`'s text satisfies `test` (a RegExp or a string it must contain). */
async function waitText(page, selector, test, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last = '';
  for (;;) {
    last = (await page.locator(selector).count()) ? await page.locator(selector).first().innerText() : '(absent)';
    if (typeof test === 'string' ? last.includes(test) : test.test(last)) return last;
    if (Date.now() > deadline) throw new Error(`${selector} never showed ${test}; it shows "${last.slice(0, 300)}"`);
    await page.waitForTimeout(100);
  }
}
async function waitCount(page, selector, n, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const c = await page.locator(selector).count();
    if (c === n) return;
    if (Date.now() > deadline) throw new Error(`expected ${n} of ${selector}, found ${c}`);
    await page.waitForTimeout(100);
  }
}
/** Polls `fn` until it returns something truthy (which it returns), or fails with `what`. */
async function waitUntil(fn, what, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(what);
    await pause(100);
  }
}
const pause = (ms) => new Promise((r) => setTimeout(r, ms));
/** Waits until the connections table lists exactly `ids` (in any order). */
async function waitRows(page, ids, timeout = TIMEOUT) {
  const want = [...ids].sort().join(' ');
  const deadline = Date.now() + timeout;
  for (;;) {
    const seen = (await page.locator('#connections tbody tr[data-connection-id]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-connection-id'))))
      .sort()
      .join(' ');
    if (seen === want) return;
    if (Date.now() > deadline) throw new Error(`the connections table lists [${seen}], not [${want}]`);
    await page.waitForTimeout(100);
  }
}
/** Goes to a page through its navigation link, with the keyboard (focus, Enter). */
async function navigate(page, title) {
  const link = page.locator('nav[aria-label="Console pages"] a', { hasText: new RegExp(`^${title}$`) });
  await link.focus();
  await page.keyboard.press('Enter');
  await waitText(page, 'main h1', title);
  // The layout moves focus to the new page's heading, so a screen reader hears where it is.
  const focusedHeading = () => page.evaluate(() => document.activeElement && `${document.activeElement.tagName}:${document.activeElement.textContent}`);
  const deadline = Date.now() + 5000;
  while ((await focusedHeading()) !== `H1:${title}`) {
    check(Date.now() < deadline, `focus after navigating to ${title} stays on ${await focusedHeading()}`);
    await page.waitForTimeout(50);
  }
}
/** fetch() from the page, with its cookies; `csrf` false leaves the header out. */
function pageFetch(page, method, path, { csrf, body } = {}) {
  return page.evaluate(
    async ({ method, path, csrf, body }) => {
      const headers = { Accept: 'application/json' };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      if (csrf) headers['X-CSRF-Token'] = csrf;
      const r = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
      let json = null;
      try {
        json = await r.json();
      } catch {}
      return { status: r.status, json };
    },
    { method, path, csrf, body },
  );
}

let createdKeyId = '';
let oldCookie = '';

try {
  const { context, page } = await newContext();

  await step(page, 'sign in (a wrong credential is refused)', async () => {
    const res = await page.goto(`${base}/console/`);
    check(res.status() === 200, `GET /console/ answered ${res.status()}`);
    const csp = res.headers()['content-security-policy'] || '';
    const scriptSrc = (csp.match(/(?:^|;)\s*script-src([^;]*)/) || [])[1] || '';
    check(/'self'/.test(scriptSrc) && !/unsafe-inline|unsafe-eval/.test(scriptSrc), `the page's CSP allows more than its own scripts: ${csp}`);
    check(/frame-ancestors 'none'/.test(csp), `the page can be framed: ${csp}`);
    await page.locator('#credential').waitFor();
    await shot(page, 'signin');
    await page.locator('#credential').fill(`alter_admin_${'0'.repeat(40)}`);
    await page.locator('#signin button[type=submit]').click();
    const refused = await waitText(page, '#signin [role=alert]', /\S/);
    check(!/undefined|\[object/.test(refused), `the refusal reads "${refused}"`);
    check((await page.locator('nav[aria-label="Console pages"]').count()) === 0, 'a wrong credential signed in');
    check(!(await context.cookies()).some((c) => c.name === 'alter_console'), 'a wrong credential got a session cookie');
    // The real one, with the keyboard.
    await page.locator('#credential').fill(adminToken);
    await page.locator('#credential').press('Enter');
    try {
      await page.locator('nav[aria-label="Console pages"]').waitFor({ timeout: 5000 });
    } catch (e) {
      const st = await page.evaluate(() => { const b = document.querySelector('#signin button'); const i = document.querySelector('#credential'); return { dis: b && b.disabled, busy: b && b.getAttribute('aria-busy'), len: i && i.value.length, active: document.activeElement && document.activeElement.id }; });
      log(`sign-in did not finish: ${JSON.stringify(st)}; requests: ${JSON.stringify(requests)}`);
      throw e;
    }
    check((await page.locator('#credential').count()) === 0, 'the sign-in form is still there');
    const cookie = (await context.cookies()).find((c) => c.name === 'alter_console');
    check(cookie, 'no session cookie');
    check(cookie.httpOnly, 'the session cookie is not HttpOnly');
    check(cookie.sameSite === 'Strict', `the session cookie is SameSite=${cookie.sameSite}`);
    check(cookie.secure === false, 'the cookie is Secure on plain http (the browser would drop it)');
    check(cookie.expires > Date.now() / 1000, 'the session cookie has no expiry');
    check(cookie.value !== adminToken, 'the cookie is the credential');
    oldCookie = cookie.value;
    secrets.push(cookie.value);
  });

  await step(page, 'overview', async () => {
    await waitText(page, 'main h1', 'Overview');
    await waitText(page, '#count-apps', /^1$/);
    check((await text(page, '#count-connections-active')) === '2', 'active connections');
    check((await text(page, '#count-connections-reauth_required')) === '1', 'connections needing reconnect');
    check((await text(page, '#count-approvals-pending')) === '1', 'pending approvals');
    check(Number(await text(page, '#count-audit-rows')) > 5, 'audit rows');
    check(/^seq \d+ [0-9a-f]{12}…$/.test(await text(page, '#chain-head')), `chain head: ${await text(page, '#chain-head')}`);
    check((await text(page, '#last-verify')) === 'never', 'last verification');
    check((await text(page, '#health')) === 'ready', 'health');
    await shot(page, 'overview');
  });

  await step(page, 'connections: see one, refresh it, filter, a connect link, delete one', async () => {
    await navigate(page, 'Connections');
    const row = (id) => page.locator(`#connections tr[data-connection-id="${id}"]`);
    await waitRows(page, [alice, bob, carol]);
    check((await row(alice).innerText()).includes('user_id=alice'), 'alice is not listed as user_id=alice');
    check((await row(alice).innerText()).includes('active'), 'alice is not active');
    check((await row(bob).innerText()).includes('reauth_required'), 'bob is not reauth_required');
    // One connection in full: its fields, none of them a token.
    await row(alice).getByRole('button', { name: 'View' }).click();
    await waitText(page, '#connection-detail dd[data-field="status"]', 'active');
    const fields = await page.locator('#connection-detail dt').allInnerTexts();
    check(fields.includes('attributes') && fields.includes('expires_at'), `detail fields: ${fields.join(' ')}`);
    check(!fields.some((f) => /token|secret/i.test(f) && f !== 'token_type'), `detail fields: ${fields.join(' ')}`);
    await page.locator('#connection-refresh').click();
    await waitText(page, '#connection-result', /Refreshed .*status active/);
    // Filters: a malformed attribute is an error, not a query; then status, then a user attribute.
    await page.locator('#conn-attr').fill('alice');
    await page.locator('#connection-filters button[type=submit]').click();
    await waitText(page, '#connection-filters [role=alert]', 'name=value');
    await page.locator('#conn-attr').fill('');
    await page.locator('#conn-status').selectOption('reauth_required');
    await page.locator('#connection-filters button[type=submit]').click();
    await waitRows(page, [bob]);
    await page.locator('#conn-status').selectOption('');
    await page.locator('#conn-attr').fill('user_id=alice');
    await page.locator('#connection-filters button[type=submit]').click();
    await waitRows(page, [alice]);
    check((await page.locator('#connection-filters [role=alert]').count()) === 0, 'the malformed-filter error outlived a valid filter');
    // bob must reconnect: a new connect link to send him.
    const card = page.locator(`#reconnect li[data-connection-id="${bob}"]`);
    await card.getByRole('button', { name: 'New connect link' }).click();
    await card.locator('input.connect-link').waitFor();
    const link = await card.locator('input.connect-link').inputValue();
    check(link.startsWith(`${base}/connect/`), `the connect link is ${link}`);
    await shot(page, 'connections');
    // Delete carol's: the vault revokes at the provider and says so.
    await page.locator('#conn-attr').fill('');
    await page.locator('#connection-filters button[type=submit]').click();
    await waitRows(page, [alice, bob, carol]);
    await row(carol).getByRole('button', { name: 'View' }).click();
    await waitText(page, '#connection-detail-title', carol);
    page.once('dialog', (d) => d.accept());
    await page.locator('#connection-delete').click();
    await waitText(page, '#connection-result', /Deleted .*attempted, ok/);
    await waitRows(page, [alice, bob]);
  });

  await step(page, 'approvals: the queue updates by itself; approve one, deny one (desktop and phone)', async () => {
    await navigate(page, 'Approvals');
    await waitCount(page, 'article.approval', 1);
    // Now the test starts a second SDK call; the page must show it without a reload.
    writeFileSync(join(signals, 'approvals-open'), '');
    await waitCount(page, 'article.approval', 2, 30000);
    const card = (what) => page.locator('article.approval', { hasText: what });
    const first = card('approve-me');
    check((await first.locator('.method').innerText()) === 'POST', 'method');
    check((await first.locator('.url').innerText()) === `${providerUrl}/api/items/approve-me`, 'URL');
    check((await first.locator('.approval-actor').innerText()) === 'ai_agent:console-e2e-agent (Console E2E Agent)', 'agent');
    check((await first.locator('.approval-user').innerText()) === 'user_id=alice', 'user');
    check((await first.locator('.approval-reason').innerText()) === 'file the weekly report', 'reason');
    check((await first.locator('.approval-rule').innerText()) === 'writes-need-approval', 'rule');
    check((await first.locator('.approval-body-preview').innerText()).includes('Weekly report'), 'the proxied body is not shown');
    check(/^[0-9a-f]{64}$/.test(await first.locator('.approval-body-sha256').innerText()), 'body hash');
    await shot(page, 'approvals');
    // On a phone: no sideways scrolling, the buttons on screen.
    await page.setViewportSize(PHONE);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    check(width <= PHONE.width, `the approvals page is ${width}px wide on a ${PHONE.width}px screen`);
    const box = await first.locator('button.approve').boundingBox();
    check(box && box.x >= 0 && box.x + box.width <= PHONE.width && box.height >= 32, `the Approve button on a phone: ${JSON.stringify(box)}`);
    await first.scrollIntoViewIfNeeded();
    await shot(page, 'approvals-phone', false);
    await page.setViewportSize(DESKTOP);
    // Approve with the keyboard, deny with a click.
    await first.locator('button.approve').press('Enter');
    await waitText(page, '#approval-notice', `Approved: POST ${providerUrl}/api/items/approve-me`);
    await waitCount(page, 'article.approval', 1);
    await card('deny-me').locator('button.deny').click();
    await waitText(page, '#approval-notice', `Denied: POST ${providerUrl}/api/items/deny-me`);
    await waitCount(page, 'article.approval', 0);
    await waitText(page, '#approvals-count', 'No pending approvals.');
    await waitText(page, '#approvals-recent', /denied/);
  });

  await step(page, 'audit: the approved call lands; filters, one row, verify, export', async () => {
    await navigate(page, 'Audit');
    await page.locator('#audit-kind').selectOption('api_call');
    await page.locator('#audit-filters button[type=submit]').click();
    // The SDK call completes on its own time after the approval: reload until its row is there
    // (and the table shows the filter: only api_call rows).
    const auditRows = () =>
      page.locator('#audit tbody tr[data-seq]').evaluateAll((trs) =>
        trs.map((tr) => ({ cells: [...tr.querySelectorAll('td')].map((td) => td.innerText), kind: tr.children[2].innerText, decision: tr.querySelector('.decision').innerText })),
      );
    const deadline = Date.now() + 30000;
    let callRow;
    for (;;) {
      const rows = await auditRows();
      if (rows.length && rows.every((r) => r.kind === 'api_call')) callRow = rows.find((r) => r.decision === 'called' && r.cells[7].includes('approve-me'));
      if (callRow) break;
      check(Date.now() < deadline, `the approved call never appeared in the audit trail (${rows.length} rows)`);
      await page.waitForTimeout(250);
      await page.locator('#audit-reload').click();
    }
    const rowText = callRow.cells.join(' ');
    check(rowText.includes('user_id=alice') && rowText.includes('ai_agent:console-e2e-agent'), `the call's row: ${rowText}`);
    check(callRow.cells[8] === 'file the weekly report', `the call's row has no reason: ${rowText}`);
    // Why was a call refused? decision=denied for alice.
    await page.locator('#audit-kind').selectOption('');
    await page.locator('#audit-decision').selectOption('denied');
    await page.locator('#audit-user').fill('alice');
    await page.locator('#audit-filters button[type=submit]').click();
    const denials = await waitUntil(async () => {
      const rows = await auditRows();
      return rows.length > 0 && rows.every((r) => r.decision === 'denied') ? rows : null;
    }, 'the denied rows never showed alone');
    const urls = denials.map((r) => r.cells[7]).join(' ');
    check(urls.includes('/api/admin/users'), `denied rows: ${urls}`);
    // Each decision a person took: kind=approval.
    await page.locator('#audit-decision').selectOption('');
    await page.locator('#audit-kind').selectOption('approval');
    await page.locator('#audit-filters button[type=submit]').click();
    await waitUntil(async () => {
      const d = (await auditRows()).map((r) => r.decision);
      return d.length > 0 && d.every((x) => ['requested', 'approved', 'denied'].includes(x)) && d.includes('approved') && d.includes('denied');
    }, 'the approval rows (requested, approved, denied) never showed');
    // Back to the denials, for the row in full and the export.
    await page.locator('#audit-kind').selectOption('');
    await page.locator('#audit-decision').selectOption('denied');
    await page.locator('#audit-filters button[type=submit]').click();
    await waitUntil(async () => {
      const rows = await auditRows();
      return rows.length === denials.length && rows.every((r) => r.decision === 'denied');
    }, 'the denied rows never came back');
    const decisions = denials.map((r) => r.decision);
    // One row in full.
    const firstRow = page.locator('#audit tbody tr[data-seq]').first();
    const seq = await firstRow.getAttribute('data-seq');
    await firstRow.getByRole('button', { name: 'View' }).click();
    const detail = JSON.parse(await text(page, '#audit-detail'));
    check(String(detail.seq) === seq && detail.decision === 'denied' && typeof detail.hash === 'string', `row in full: ${JSON.stringify(detail).slice(0, 200)}`);
    // The chain.
    await page.locator('#audit-verify').click();
    await waitText(page, '#verify-result', /^Chain intact: \d+ rows checked/);
    await shot(page, 'audit');
    // Paging: 25 rows a page, oldest first; the second page goes on where the first stopped.
    await page.getByRole('button', { name: 'Clear' }).click();
    await page.locator('#audit-limit').selectOption('25');
    await page.locator('#audit-filters button[type=submit]').click();
    await waitText(page, '#audit caption', /^Page 1: 25 rows/);
    const firstPage = (await page.locator('#audit tbody tr[data-seq]').evaluateAll((trs) => trs.map((t) => Number(t.getAttribute('data-seq')))));
    await page.locator('#audit-next').click();
    await waitText(page, '#audit caption', /^Page 2: [1-9]\d* rows?/);
    const secondPage = (await page.locator('#audit tbody tr[data-seq]').evaluateAll((trs) => trs.map((t) => Number(t.getAttribute('data-seq')))));
    check(secondPage[0] > firstPage[firstPage.length - 1], `page 2 starts at seq ${secondPage[0]}, page 1 ended at ${firstPage[firstPage.length - 1]}`);
    await page.locator('#audit-prev').click();
    await waitText(page, '#audit caption', /^Page 1: 25 rows/);
    // Export: the denials again, as JSON lines.
    await page.locator('#audit-decision').selectOption('denied');
    await page.locator('#audit-user').fill('alice');
    await page.locator('#audit-filters button[type=submit]').click();
    await waitUntil(async () => {
      const rows = await auditRows();
      return rows.length === denials.length && rows.every((r) => r.decision === 'denied');
    }, 'the denied rows never came back');
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#audit-export').click()]);
    const exported = readFileSync(await download.path(), 'utf8');
    const lines = exported.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    check(lines.length === decisions.length && lines.every((l) => l.decision === 'denied'), `export: ${lines.length} lines for ${decisions.length} rows`);
    secrets.forEach((s, i) => check(!exported.includes(s), `secret #${i} is in the export`));
  });

  await step(page, 'policies: the document, a dry run with its trace, a refused apply at its line, an apply, a diff', async () => {
    await navigate(page, 'Policies');
    await waitText(page, '#policy-document', 'writes-need-approval');
    await page.locator('#dry-actor-id').fill('console-e2e-agent');
    await page.locator('#dry-provider').fill('fake');
    await page.locator('#dry-method').selectOption('POST');
    await page.locator('#dry-url').fill(`${providerUrl}/api/items/42`);
    await page.locator('#dry-user').fill('user_id=alice');
    await page.locator('#dry-run button[type=submit]').click();
    await waitText(page, '#dry-run-effect', /^require_approval$/);
    check((await text(page, '#dry-run-rule')) === 'writes-need-approval', 'the deciding rule');
    await waitCount(page, '#dry-run-trace tbody tr[data-rule]', 3);
    check(((await page.locator('#dry-run-trace tr[data-rule="writes-need-approval"]').getAttribute('class')) || '').includes('selected'), 'the deciding rule is not marked');
    check((await page.locator('#dry-run-trace tr[data-rule="reads"]').innerText()).includes('no'), 'the GET rule matched a POST');
    await shot(page, 'policies');
    // A document with a mistake on line 4: refused, the line named, nothing stored.
    const editor = page.locator('#policy-editor');
    const bad = 'version = 1\n\n[[rules]]\neffect = "maybe"\nid = "broken"\nproviders = ["fake"]\n';
    await editor.fill(bad);
    await page.locator('#policy-apply button[type=submit]').click();
    await waitText(page, '#policy-errors [role=alert]', 'nothing was stored');
    const lines = await page.locator('#policy-errors li[data-line]').evaluateAll((els) => els.map((e) => e.getAttribute('data-line')));
    check(lines.includes('4'), `the refusal names lines ${lines.join(',') || '(none)'}, not line 4: ${await text(page, '#policy-errors')}`);
    await page.locator('#policy-errors li[data-line="4"] button').click();
    const selected = await editor.evaluate((t) => t.value.slice(t.selectionStart, t.selectionEnd));
    check(selected === 'effect = "maybe"', `"line 4" selects "${selected}"`);
    await waitCount(page, '#policy-versions tbody tr[data-version]', 1);
    // A valid one: version 2.
    const current = await text(page, '#policy-document');
    await editor.fill(`${current.trimEnd()}\n\n[[rules]]\nid = "console-added"\neffect = "deny"\nproviders = ["fake"]\npaths = ["/api/secret/**"]\n`);
    await page.locator('#policy-apply button[type=submit]').click();
    await waitText(page, '#policy-applied', 'Applied version 2 (4 rules)');
    await waitCount(page, '#policy-versions tbody tr[data-version]', 2);
    await page.locator('#policy-diff-form button[type=submit]').click();
    await waitText(page, '#policy-diff', '+ added rule "console-added" (deny)');
  });

  await step(page, 'keys and apps: a key shown once then revoked, an app, a provider secret never shown', async () => {
    await navigate(page, 'Keys and apps');
    await waitCount(page, '#keys tbody tr[data-key-id]', 1);
    await page.locator('#key-name').fill('console-e2e');
    await page.locator('#create-key button[type=submit]').click();
    await page.locator('#new-key-value').waitFor();
    const key = await page.locator('#new-key-value').inputValue();
    check(key.length >= 24, 'the new key is not shown');
    await page.locator('#new-key-done').click();
    await waitCount(page, '#new-key', 0);
    secrets.push(key); // from now on it must be nowhere
    const row = page.locator('#keys tbody tr[data-key-id]', { hasText: 'console-e2e' });
    await row.waitFor();
    createdKeyId = (await row.getAttribute('data-key-id')) || '';
    page.once('dialog', (d) => d.accept());
    await row.getByRole('button', { name: 'Revoke' }).click();
    await waitText(page, '#key-result', 'Revoked console-e2e');
    await waitText(page, `#keys tr[data-key-id="${createdKeyId}"] td:nth-child(4)`, /^yes/);
    // An app, then its provider credential: the client id shown, the secret only sent.
    await page.locator('#new-app-id').fill('console-made');
    await page.locator('#new-app-name').fill('Made in the console');
    await page.locator('#create-app button[type=submit]').click();
    await waitText(page, '#app-result', 'Created app console-made');
    await page.locator('#apps tr[data-app-id="console-made"]').waitFor();
    await page.locator('#app').selectOption('console-made');
    await waitText(page, '#credentials-title', 'console-made');
    await page.locator('#cred-provider').selectOption('fake');
    await page.locator('#cred-client-id').fill('made-in-the-console');
    await page.locator('#cred-client-secret').fill(providerSecret);
    await page.locator('#credential-form button[type=submit]').click();
    await waitText(page, '#credential-result', 'client secret set: yes');
    check((await page.locator('#cred-client-secret').inputValue()) === '', 'the secret stays in its input');
    await waitText(page, '#credentials tr[data-provider-id="fake"]', 'made-in-the-console');
    await page.locator('#app').selectOption('default');
    await waitText(page, '#credentials-title', 'default');
    await shot(page, 'keys');
  });

  await step(page, 'overview after all that', async () => {
    await navigate(page, 'Overview');
    await waitText(page, '#count-apps', /^2$/);
    check((await text(page, '#count-approvals-pending')) === '0', 'pending approvals');
    check((await text(page, '#count-connections-active')) === '1', 'active connections');
    await waitText(page, '#last-verify', /^ok /);
  });

  await step(page, 'CSRF: a change without the session\'s token is refused and changes nothing', async () => {
    const none = await pageFetch(page, 'POST', '/v1/admin/apps', { body: { id: 'csrf-probe' } });
    check(none.status === 403 && none.json && none.json.error === 'csrf_token_invalid', `no token: ${JSON.stringify(none)}`);
    const wrong = await pageFetch(page, 'POST', '/v1/admin/apps', { body: { id: 'csrf-probe' }, csrf: 'not-the-token' });
    check(wrong.status === 403 && wrong.json && wrong.json.error === 'csrf_token_invalid', `a wrong token: ${JSON.stringify(wrong)}`);
    const signOut = await pageFetch(page, 'DELETE', '/console/api/session');
    check(signOut.status === 403, `sign-out without the token: ${signOut.status}`);
    const apps = await pageFetch(page, 'GET', '/v1/admin/apps');
    check(apps.status === 200 && !apps.json.apps.some((a) => a.id === 'csrf-probe'), 'the probe made an app, or the session ended');
  });

  await step(page, 'sign out: the session is over, also for a replayed cookie', async () => {
    await page.locator('#signout').click();
    await waitText(page, '#signin-message', 'You are signed out.');
    check(!(await context.cookies()).some((c) => c.name === 'alter_console'), 'the cookie is still in the browser');
    const after = await pageFetch(page, 'GET', '/v1/admin/apps');
    check(after.status === 401, `after sign-out: ${after.status}`);
    await context.addCookies([{ name: 'alter_console', value: oldCookie, url: base, httpOnly: true, sameSite: 'Strict' }]);
    const replayed = await pageFetch(page, 'GET', '/v1/admin/apps');
    check(replayed.status === 401, `the old cookie replayed: ${replayed.status}`);
    await context.clearCookies();
  });

  await step(page, 'a strict CSP: an injected inline script does not run', async () => {
    const ran = await page.evaluate(
      () =>
        new Promise((resolve) => {
          const s = document.createElement('script');
          s.textContent = 'window.__inlineRan = true;';
          document.body.appendChild(s);
          setTimeout(() => resolve(window.__inlineRan === true), 200);
        }),
    );
    check(!ran, 'an inline script ran');
    // Chromium also logs the refusal as a console error: this one was provoked.
    for (let i = problems.length - 1; i >= 0; i--) if (/inline script/i.test(problems[i]) && /Content Security Policy/.test(problems[i])) problems.splice(i, 1);
    const violations = await page.evaluate(() => window.__cspViolations.splice(0));
    check(violations.length === 1 && violations[0].startsWith('script-src'), `violations: ${violations.join('; ')}`);
  });
  await context.close();

  const short = await newContext();
  await step(short.page, 'an expired session is refused (a vault whose sessions last 2 s)', async () => {
    await short.page.goto(`${shortBase}/console/`);
    await short.page.locator('#credential').fill(shortToken);
    await short.page.locator('#credential').press('Enter');
    await short.page.locator('nav[aria-label="Console pages"]').waitFor();
    // The approvals page polls every 2 s; its first call after the expiry ends the session. (Reached
    // by its address, not `navigate`: on a loaded machine the 2 s may be over before the focus check.)
    await short.page.evaluate(() => {
      window.location.hash = '#/approvals';
    });
    await waitText(short.page, '#signin-message', 'Your session has ended; sign in again.', 20000);
    const after = await pageFetch(short.page, 'GET', '/v1/admin/apps');
    check(after.status === 401, `after the expiry: ${after.status}`);
  });
  await short.context.close();

  process.stdout.write(`${JSON.stringify({ steps, screenshots, created_key_id: createdKeyId })}\n`);
} catch (err) {
  log(err.stack || err.message);
  process.exitCode = 1;
} finally {
  await browser.close().catch(() => {});
}
