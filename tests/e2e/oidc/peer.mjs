// The real OAuth peer of Alter Vault's end-to-end test: the `oidc-provider` npm package (not written
// here) on 127.0.0.1 and a port the OS picks.
//
//   node peer.mjs --client-id ID --client-secret SECRET --redirect-uri URI [--access-token-ttl SECONDS]
//
// Listens first (port 0), then builds the provider with issuer http://127.0.0.1:<port>, and prints
// exactly one line on stdout: "ready http://127.0.0.1:<port>". Everything else goes to stderr.
// Exits on SIGTERM/SIGINT, and when its stdin closes (so a crashed test leaves no peer behind).
//
// Besides oidc-provider's own endpoints (discovery, /auth, /token, /me, /token/introspection,
// /token/revocation, and the dev login/consent pages under /interaction) it serves one test route:
//   GET /test/stats  ->  {"token_grants": {"<grant_type>": {"ok": n, "failed": n}}, "userinfo": {...}}
// counted by a middleware on the provider's own Koa app, so a test can assert that a real
// refresh_token grant happened (and that none failed, e.g. a rotated refresh token replayed).
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string' },
    'access-token-ttl': { type: 'string', default: '5' },
  },
});
for (const name of ['client-id', 'client-secret', 'redirect-uri']) {
  if (!args[name]) {
    process.stderr.write(`peer.mjs: --${name} is required\n`);
    process.exit(2);
  }
}
const accessTokenTtl = Number.parseInt(args['access-token-ttl'], 10);
if (!(accessTokenTtl > 0)) {
  process.stderr.write('peer.mjs: --access-token-ttl must be a positive number of seconds\n');
  process.exit(2);
}

// The port first: the issuer must name it exactly.
const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

const stats = { token_grants: {}, userinfo: { ok: 0, failed: 0 } };
const count = (table, key, ok) => {
  table[key] ??= { ok: 0, failed: 0 };
  table[key][ok ? 'ok' : 'failed'] += 1;
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: args['client-id'],
    client_secret: args['client-secret'],
    redirect_uris: [args['redirect-uri']],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  // The subject is the login name typed on the dev login page (any password is accepted there).
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() { return { sub: id }; },
    };
  },
  claims: { openid: ['sub'] },
  scopes: ['openid', 'offline_access'],
  features: {
    devInteractions: { enabled: true }, // oidc-provider's own login and consent pages
    introspection: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
  },
  pkce: { required: () => true },
  clockTolerance: 0,
  ttl: {
    AccessToken: accessTokenTtl,
    AuthorizationCode: 60,
    IdToken: 3600,
    Grant: 3600,
    Interaction: 600,
    Session: 3600,
    RefreshToken: 3600,
  },
  rotateRefreshToken: true,
  // Refresh tokens only for offline_access, which oidc-provider keeps only under prompt=consent.
  async issueRefreshToken(ctx, client, code) {
    return client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access');
  },
  cookies: { keys: [randomBytes(32).toString('hex')] },
});

provider.use(async (ctx, next) => {
  if (ctx.method === 'GET' && ctx.path === '/test/stats') {
    ctx.type = 'json';
    ctx.body = stats;
    return;
  }
  if (ctx.method === 'POST' && ctx.path === '/test/drop-access-token') {
    let raw = '';
    for await (const chunk of ctx.req) raw += chunk;
    const token = new URLSearchParams(raw).get('token') ?? '';
    const found = await provider.AccessToken.find(token);
    if (found) await found.destroy();
    ctx.type = 'json';
    ctx.body = { dropped: Boolean(found) };
    return;
  }
  await next();
  if (ctx.method === 'POST' && ctx.path === '/token') {
    const grantType = ctx.oidc?.params?.grant_type ?? 'unknown';
    count(stats.token_grants, grantType, ctx.status === 200);
    process.stderr.write(`peer: token grant ${grantType} -> ${ctx.status}\n`);
  } else if (ctx.path === '/me') {
    stats.userinfo[ctx.status === 200 ? 'ok' : 'failed'] += 1;
  }
});
provider.on('server_error', (ctx, err) => process.stderr.write(`peer: server_error ${err?.stack ?? err}\n`));
provider.on('grant.error', (ctx, err) => process.stderr.write(`peer: grant.error ${err?.message} ${err?.error_description ?? ''}\n`));

server.on('request', provider.callback());

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();

process.stdout.write(`ready ${issuer}\n`);
