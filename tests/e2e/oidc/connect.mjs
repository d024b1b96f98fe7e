// Drives a real browser (Debian's chromium through playwright-core; no browser is ever downloaded)
// through Alter Vault's connect flow against oidc-provider's own pages:
//
//   node connect.mjs --connect-url URL --vault-url URL --login NAME [--password PW]
//                    [--chromium /usr/bin/chromium] [--timeout-ms 60000]
//
// Opens the connect URL, signs in on oidc-provider's dev login page, accepts on its consent page,
// and waits for the vault's success page. On success prints one JSON line on stdout:
//   {"connection_id": "...", "title": "...", "callback_url": "...", "provider_pages": [...], "blocked": [...]}
// Otherwise exits non-zero with a message naming the page (title, URL and some text) it stopped on.
// Only 127.0.0.1 is reachable from the page: anything else (e.g. the web font oidc-provider's
// layout imports) is aborted and listed under "blocked", so the test never touches the internet.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { chromium } from 'playwright-core';

const { values: args } = parseArgs({
  options: {
    'connect-url': { type: 'string' },
    'vault-url': { type: 'string' },
    login: { type: 'string' },
    password: { type: 'string', default: 'any-password' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    'timeout-ms': { type: 'string', default: '60000' },
  },
});
for (const name of ['connect-url', 'vault-url', 'login']) {
  if (!args[name]) {
    process.stderr.write(`connect.mjs: --${name} is required\n`);
    process.exit(2);
  }
}
const timeoutMs = Number.parseInt(args['timeout-ms'], 10);
const vaultUrl = args['vault-url'].replace(/\/+$/, '');
const callbackPrefix = `${vaultUrl}/oauth/callback`;

const fail = (message) => {
  process.stderr.write(`connect.mjs: ${message}\n`);
  process.exitCode = 1;
};

// A last resort: never hang the test, whatever the browser does.
const watchdog = setTimeout(() => {
  process.stderr.write(`connect.mjs: gave up after ${timeoutMs + 15000} ms\n`);
  process.exit(3);
}, timeoutMs + 15000);
watchdog.unref();

async function describe(page) {
  try {
    const text = (await page.locator('body').innerText({ timeout: 2000 })).replace(/\s+/g, ' ').slice(0, 400);
    return `title "${await page.title()}", URL ${page.url()}, text: ${text}`;
  } catch (e) {
    return `URL ${page.url()} (${e.message})`;
  }
}

const userDataDir = mkdtempSync(join(tmpdir(), 'alter-e2e-chromium-'));
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: args.chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
    timeout: timeoutMs,
  });
  context.setDefaultTimeout(timeoutMs);
  context.setDefaultNavigationTimeout(timeoutMs);

  const blocked = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1') return route.continue();
    blocked.push(url.origin);
    return route.abort('blockedbyclient');
  });

  const page = context.pages()[0] ?? await context.newPage();
  let callbackUrl = '';
  page.on('request', (request) => {
    if (request.isNavigationRequest() && request.url().startsWith(callbackPrefix)) callbackUrl = request.url();
  });

  const response = await page.goto(args['connect-url'], { waitUntil: 'domcontentloaded' });
  if (!response) throw new Error('the connect URL gave no response');

  // Walk the provider's pages until the vault's own page appears: the login page, then the consent
  // page (the order oidc-provider's prompts take); each step must change the page.
  const providerPages = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`no vault page within ${timeoutMs} ms; last page: ${await describe(page)}`);
    await page.waitForLoadState('domcontentloaded');
    if (page.url().startsWith(vaultUrl)) break;
    const loginInput = page.locator('form input[name="login"]');
    const consent = page.locator('form:has(input[name="prompt"][value="consent"]) button[type="submit"]');
    const heading = (await page.locator('h1').first().innerText().catch(() => '')).trim();
    if (await loginInput.count() > 0) {
      providerPages.push({ prompt: 'login', heading, url: page.url() });
      await loginInput.fill(args.login);
      await page.locator('form input[name="password"]').fill(args.password);
      await Promise.all([
        page.waitForNavigation({ waitUntil: 'domcontentloaded' }),
        page.locator('form:has(input[name="login"]) button[type="submit"]').click(),
      ]);
    } else if (await consent.count() > 0) {
      providerPages.push({ prompt: 'consent', heading, url: page.url() });
      // The consent answer redirects through the provider's /auth/... to the vault's callback.
      await Promise.all([
        page.waitForURL((u) => u.href.startsWith(vaultUrl), { waitUntil: 'domcontentloaded' }),
        consent.click(),
      ]);
    } else {
      throw new Error(`neither oidc-provider's login or consent page nor the vault's page: ${await describe(page)}`);
    }
    if (providerPages.length > 4) throw new Error(`the provider keeps asking: ${await describe(page)}`);
  }

  const title = (await page.locator('#title').innerText().catch(() => '')).trim();
  const connection = page.locator('#connection');
  if (await connection.count() === 0) {
    throw new Error(`the vault did not show a connection: ${await describe(page)}`);
  }
  const connectionId = await connection.getAttribute('data-connection-id');
  if (!connectionId) throw new Error(`the vault's page has no connection id: ${await describe(page)}`);
  process.stdout.write(`${JSON.stringify({
    connection_id: connectionId,
    title,
    callback_url: callbackUrl,
    provider_pages: providerPages,
    blocked: [...new Set(blocked)],
  })}\n`);
} catch (e) {
  fail(e?.stack ?? String(e));
} finally {
  await context?.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
