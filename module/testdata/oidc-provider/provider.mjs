// A real OpenID provider for Gatehouse's relying-party end-to-end test
// (module/rp_e2e_test.go): the certified `oidc-provider` package, with one
// confidential client, one static account, PKCE required, refresh tokens
// (rotated on every use) and a short access-token lifetime. Its sign-in and
// consent pages are plain forms, so the test drives them with an HTTP client.
//
// Configured by environment, all required but the last two:
//   OP_PORT           port to listen on (127.0.0.1 only)
//   OP_CLIENT_ID      the client's id
//   OP_CLIENT_SECRET  the client's secret
//   OP_REDIRECT_URIS  the client's redirect URIs, comma-separated
//   OP_ACCESS_TTL     access-token lifetime in seconds (default 3)
//   OP_PASSWORD           the account's password (default "correct horse")
//
// It prints "listening <issuer>" when ready. All state (grants, sessions,
// signing keys) is in memory: a restart forgets every grant, so refresh
// tokens issued before it are refused.
import http from 'node:http';
import { randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === '') {
    console.error(`provider.mjs: ${name} is required`);
    process.exit(2);
  }
  return v;
};

const port = Number(env('OP_PORT'));
const issuer = `http://127.0.0.1:${port}`;
const password = env('OP_PASSWORD', 'correct horse');

// The one account: what a real directory would hold.
const account = {
  sub: 'grace-7f3a',
  login: 'grace@navy.example',
  claims: {
    email: 'grace@navy.example',
    email_verified: true,
    name: 'Grace Hopper',
    groups: ['navy', 'cobol'],
  },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: env('OP_CLIENT_ID'),
    client_secret: env('OP_CLIENT_SECRET'),
    redirect_uris: env('OP_REDIRECT_URIS').split(','),
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  async findAccount(ctx, sub) {
    if (sub !== account.sub) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, ...account.claims };
      },
    };
  },
  pkce: { required: () => true },
  // A refresh token for every code grant of a client allowed to refresh,
  // without asking for offline_access and a consent prompt.
  async issueRefreshToken(ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  rotateRefreshToken: () => true,
  // Expired means expired: the test checks that an access token past its
  // TTL is refused, which the default 15 s of tolerance would hide.
  clockTolerance: 0,
  expiresWithSession: async () => false,
  ttl: {
    AccessToken: Number(process.env.OP_ACCESS_TTL || 3),
    AuthorizationCode: 60,
    IdToken: 3600,
    RefreshToken: 86400,
    Grant: 86400,
    Interaction: 600,
    Session: 86400,
  },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
  },
  interactions: {
    url: (ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  renderError(ctx, out) {
    ctx.type = 'text/plain';
    ctx.body = `${out.error}: ${out.error_description || ''}\n`;
  },
});

const page = (title, body) => `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1>${body}</body></html>`;

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const readForm = (req) => new Promise((resolve, reject) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => {
    body += chunk;
    if (body.length > 64 * 1024) reject(new Error('form too large'));
  });
  req.on('end', () => resolve(new URLSearchParams(body)));
  req.on('error', reject);
});

const send = (res, status, html) => {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(html);
};

const loginForm = (uid, error) => page('Sign in', `
${error ? `<p class="error">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${uid}/login">
  <input name="login" autocomplete="username">
  <input name="password" type="password" autocomplete="current-password">
  <button type="submit">Sign in</button>
</form>
<a href="/interaction/${uid}/abort">Cancel</a>`);

// The interaction routes: sign-in, consent, and cancel, which ends the
// authorization with error=access_denied.
async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session, grantId } = details;
  if (req.method === 'GET' && action === '') {
    if (prompt.name === 'login') return send(res, 200, loginForm(uid));
    return send(res, 200, page('Allow access', `
<p>${escape(params.client_id)} asks for: ${escape(params.scope)}</p>
<form method="post" action="/interaction/${uid}/confirm"><button type="submit">Allow</button></form>
<a href="/interaction/${uid}/abort">Cancel</a>`));
  }
  if (req.method === 'GET' && action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
  }
  if (req.method === 'POST' && action === 'login' && prompt.name === 'login') {
    const form = await readForm(req);
    if (form.get('login') !== account.login || form.get('password') !== password) {
      return send(res, 401, loginForm(uid, 'Wrong login or password.'));
    }
    return provider.interactionFinished(req, res, {
      login: { accountId: account.sub, amr: ['pwd'] },
    }, { mergeWithLastSubmission: false });
  }
  if (req.method === 'POST' && action === 'confirm' && prompt.name === 'consent') {
    await readForm(req);
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    if (missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    return provider.interactionFinished(req, res, {
      consent: { grantId: await grant.save() },
    }, { mergeWithLastSubmission: true });
  }
  return send(res, 400, page('Bad request', `<p>${escape(req.method)} ${escape(action)} during ${escape(prompt.name)}</p>`));
}

const callback = provider.callback();
const server = http.createServer(async (req, res) => {
  const m = /^\/interaction\/([^/?]+)\/?([a-z]*)/.exec(req.url);
  if (!m) return callback(req, res);
  try {
    await interaction(req, res, m[1], m[2]);
  } catch (err) {
    send(res, 400, page('Interaction failed', `<p>${escape(err.message)}</p>`));
  }
});

server.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
