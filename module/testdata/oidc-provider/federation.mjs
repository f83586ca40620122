// A real outside OpenID provider for the federation tests
// (module/federation_e2e_test.go, module/browser_federation_test.go): the
// certified `oidc-provider` package as a pool's `idp ... oidc` provider,
// with several accounts, consent granted without asking (a first-party
// provider, as a company's own would be), PKCE required, and both the query
// and the form_post response modes (the latter as Apple answers).
//
// Configured by environment:
//   OP_PORT           port to listen on (127.0.0.1 only)
//   OP_CLIENT_ID      the client's id
//   OP_CLIENT_SECRET  the client's secret
//   OP_REDIRECT_URIS  the client's redirect URIs, comma-separated
//   OP_HOST           the issuer's host name (default 127.0.0.1; the browser
//                     test says localhost, another site than 127.0.0.1, so
//                     that its form_post is a cross-site POST)
//
// Every account's password is "correct horse". GET /test/claims?sub=<sub>&name=<name>
// changes an account's name (the tests' "the user changed it at the
// provider"). The sign-in page shows the login_hint it was sent in an
// element with id "hint". It prints "listening <issuer>" when ready.
import http from 'node:http';
import { randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`federation.mjs: ${name} is required`);
    process.exit(2);
  }
  return v;
};

const port = Number(env('OP_PORT'));
const issuer = `http://${process.env.OP_HOST || '127.0.0.1'}:${port}`;
const password = 'correct horse';

// The directory: who can sign in here, by login.
const accounts = new Map([
  // An ordinary employee, verified address.
  ['grace@navy.example', { sub: 'grace-7f3a', claims: { email: 'grace@navy.example', email_verified: true, name: 'Grace Hopper' } }],
  // Another employee, who signs in through the form_post provider.
  ['posty@navy.example', { sub: 'posty-1', claims: { email: 'posty@navy.example', email_verified: true, name: 'Posty' } }],
  // An employee of the domain-routed company.
  ['ada@acme.example', { sub: 'ada-1815', claims: { email: 'ada@acme.example', email_verified: true, name: 'Ada Lovelace' } }],
  // An attacker who typed a victim's address at the provider, unverified.
  ['mallory@evil.example', { sub: 'mallory-666', claims: { email: 'victim@example.com', email_verified: false, name: 'Mallory' } }],
  // Someone whose provider account is linked to a pool account of another address.
  ['linus@else.example', { sub: 'linus-42', claims: { email: 'linus@else.example', email_verified: true, name: 'Linus' } }],
]);
const bySub = new Map([...accounts.values()].map((a) => [a.sub, a]));

const provider = new Provider(issuer, {
  clients: [{
    client_id: env('OP_CLIENT_ID'),
    client_secret: env('OP_CLIENT_SECRET'),
    redirect_uris: env('OP_REDIRECT_URIS').split(','),
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  async findAccount(ctx, sub) {
    const a = bySub.get(sub);
    if (!a) return undefined;
    return { accountId: sub, async claims() { return { sub, ...a.claims }; } };
  },
  // Consent is the provider's own business: granted without a page.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      const found = await ctx.oidc.provider.Grant.find(grantId);
      if (found) return found;
    }
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
  pkce: { required: () => true },
  ttl: { AccessToken: 60, AuthorizationCode: 60, IdToken: 3600, Grant: 86400, Interaction: 600, Session: 86400 },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  renderError(ctx, out) {
    ctx.type = 'text/plain';
    ctx.body = `${out.error}: ${out.error_description || ''}\n`;
  },
});

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1>${body}</body></html>`;
const send = (res, status, html) => {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(html);
};
const readForm = (req) => new Promise((resolve, reject) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => { body += chunk; if (body.length > 64 * 1024) reject(new Error('form too large')); });
  req.on('end', () => resolve(new URLSearchParams(body)));
  req.on('error', reject);
});

const loginForm = (uid, hint, error) => page('Sign in at the provider', `
${error ? `<p class="error">${escape(error)}</p>` : ''}
<p id="hint">${escape(hint || '')}</p>
<form method="post" action="/interaction/${uid}/login">
  <input name="login" id="login" autocomplete="username" value="${escape(hint || '')}">
  <input name="password" id="password" type="password" autocomplete="current-password">
  <button type="submit" id="submit">Sign in</button>
</form>
<a href="/interaction/${uid}/abort" id="cancel">Cancel</a>`);

async function interaction(req, res, uid, action) {
  const { prompt, params } = await provider.interactionDetails(req, res);
  if (req.method === 'GET' && action === '') {
    return send(res, 200, loginForm(uid, params.login_hint));
  }
  if (req.method === 'GET' && action === 'abort') {
    return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'End-User aborted interaction' },
      { mergeWithLastSubmission: false });
  }
  if (req.method === 'POST' && action === 'login' && prompt.name === 'login') {
    const form = await readForm(req);
    const a = accounts.get(form.get('login'));
    if (!a || form.get('password') !== password) {
      return send(res, 401, loginForm(uid, form.get('login'), 'Wrong login or password.'));
    }
    return provider.interactionFinished(req, res, { login: { accountId: a.sub, amr: ['pwd'] } }, { mergeWithLastSubmission: false });
  }
  return send(res, 400, page('Bad request', `<p>${escape(req.method)} ${escape(action)} during ${escape(prompt.name)}</p>`));
}

const callback = provider.callback();
const server = http.createServer(async (req, res) => {
  if (req.url.startsWith('/test/claims?')) {
    const q = new URL(req.url, issuer).searchParams;
    const a = bySub.get(q.get('sub'));
    if (!a) return send(res, 404, 'no such account');
    a.claims.name = q.get('name');
    return send(res, 200, 'ok');
  }
  const m = /^\/interaction\/([^/?]+)\/?([a-z]*)/.exec(req.url);
  if (!m) return callback(req, res);
  try {
    await interaction(req, res, m[1], m[2]);
  } catch (err) {
    send(res, 400, page('Interaction failed', `<p>${escape(err.message)}</p>`));
  }
});

server.listen(port, '127.0.0.1', () => console.log(`listening ${issuer}`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
