// Three real OpenID providers on one port for federation/openid's tests,
// each the certified `oidc-provider` package configured as a kind of
// provider Gatehouse federates with:
//
//   /gen                  a generic provider: client_secret_basic, the ID
//                         token holds only sub (claims come from userinfo),
//                         RFC 9207 iss in every answer
//   /apple                as Sign in with Apple: form_post answers carrying
//                         the `user` JSON on an account's first sign-in,
//                         no userinfo, email_verified as the string "true",
//                         and a client secret that must be an ES256 JWT
//                         (iss team, sub client, aud issuer) signed by the
//                         key given here, checked in front of the token
//                         endpoint
//   /<tenant A>/v2.0      as Microsoft's multi-tenant endpoint: its
//                         discovery at /common/v2.0 states the templated
//                         issuer <base>/{tenantid}/v2.0, ID tokens carry
//                         tid and xms_edov
//
// Accounts: any login that looks like an address signs in with the
// password. The local part chooses what the provider asserts:
//   unverified...   email_verified false (Microsoft: no xms_edov)
//   noverified...   no email_verified claim
//   noemail...      no address at all
//   othertenant...  (Microsoft) tid is tenant B while the issuer is A's
//   spoofed...      (Microsoft) email_verified true but no xms_edov: an
//                   address a tenant's administrator typed (nOAuth)
// and a domain other than gmail.example is the Google-style hd claim.
//
// Environment (all required but OP_PASSWORD):
//   OP_PORT, OP_SECRET (the gen and ms clients' secret), OP_REDIRECT_URI,
//   OP_TENANT_A, OP_TENANT_B, OP_APPLE_CLIENT_ID, OP_APPLE_TEAM_ID,
//   OP_APPLE_KEY_ID, OP_APPLE_PUBLIC_KEY (PEM), OP_PASSWORD.
// It prints "listening <base URL>" when ready; all state is in memory.
import http from 'node:http';
import { createPublicKey, randomBytes, verify } from 'node:crypto';

import Provider from 'oidc-provider';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === '') {
    console.error(`providers.mjs: ${name} is required`);
    process.exit(2);
  }
  return v;
};

const port = Number(env('OP_PORT'));
const base = `http://127.0.0.1:${port}`;
const password = env('OP_PASSWORD', 'correct horse');
const secret = env('OP_SECRET');
const redirectURI = env('OP_REDIRECT_URI');
const tenantA = env('OP_TENANT_A');
const tenantB = env('OP_TENANT_B');
const apple = {
  clientID: env('OP_APPLE_CLIENT_ID'),
  teamID: env('OP_APPLE_TEAM_ID'),
  keyID: env('OP_APPLE_KEY_ID'),
  publicKey: createPublicKey(env('OP_APPLE_PUBLIC_KEY')),
  // What the token endpoint sees once the JWT passed the check below.
  internalSecret: randomBytes(24).toString('hex'),
};

// claimsFor is what a provider of this flavour asserts about a login.
function claimsFor(login, flavour) {
  const [local, domain] = login.split('@');
  const c = {
    sub: `s-${login}`,
    name: 'Grace Hopper',
    given_name: 'Grace',
    family_name: 'Hopper',
    locale: 'en-US',
    picture: 'https://pictures.example/grace.png',
  };
  if (!local.startsWith('noemail')) c.email = login;
  if (local.startsWith('unverified')) c.email_verified = false;
  else if (!local.startsWith('noverified')) c.email_verified = true;
  if (domain !== 'gmail.example') c.hd = domain;
  if (flavour === 'apple') {
    if ('email_verified' in c) c.email_verified = String(c.email_verified);
    delete c.name; delete c.given_name; delete c.family_name; delete c.locale; delete c.picture;
  }
  if (flavour === 'ms') {
    c.tid = local.startsWith('othertenant') ? tenantB : tenantA;
    if (c.email_verified === true && !local.startsWith('spoofed')) c.xms_edov = true;
    if (!local.startsWith('spoofed')) delete c.email_verified;
  }
  return c;
}

const loginOf = (sub) => (sub.startsWith('s-') && sub.includes('@') ? sub.slice(2) : undefined);

function makeProvider(issuer, mount, flavour, clients, extra = {}) {
  const provider = new Provider(issuer, {
    clients,
    claims: {
      openid: ['sub', 'tid', 'hd', 'xms_edov'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name', 'locale', 'picture'],
      ...(flavour === 'apple' ? { name: [] } : {}),
    },
    async findAccount(ctx, sub) {
      const login = loginOf(sub);
      if (!login) return undefined;
      return { accountId: sub, async claims() { return claimsFor(login, flavour); } };
    },
    pkce: { required: () => true },
    ttl: {
      AccessToken: 60, AuthorizationCode: 60, IdToken: 3600, Grant: 3600, Interaction: 600, Session: 3600,
    },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `${mount}/interaction/${interaction.uid}` },
    renderError(ctx, out) {
      ctx.type = 'text/plain';
      ctx.body = `${out.error}: ${out.error_description || ''}\n`;
    },
    ...extra,
  });
  return provider;
}

const client = (id, more = {}) => ({
  client_id: id,
  client_secret: secret,
  redirect_uris: [redirectURI],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  ...more,
});

const gen = makeProvider(`${base}/gen`, '/gen', 'gen', [client('gen'), client('gen-other')]);
const appleOP = makeProvider(`${base}/apple`, '/apple', 'apple', [client(apple.clientID, {
  client_secret: apple.internalSecret,
  token_endpoint_auth_method: 'client_secret_post',
})], {
  clientAuthMethods: ['client_secret_post'],
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false }, userinfo: { enabled: false } },
});
const msIssuer = `${base}/${tenantA}/v2.0`;
const ms = makeProvider(msIssuer, `/${tenantA}/v2.0`, 'ms', [client('ms')], { conformIdTokenClaims: false });

const b64json = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));

// checkAppleSecret is Apple's rule for the client secret, as its token
// endpoint applies it; it returns why a secret is refused, or ''.
function checkAppleSecret(jwt, clientID) {
  if (typeof jwt !== 'string') return 'no client_secret';
  const parts = jwt.split('.');
  if (parts.length !== 3) return 'client_secret is not a JWT';
  let header; let payload;
  try {
    header = b64json(parts[0]);
    payload = b64json(parts[1]);
  } catch {
    return 'client_secret is not a JWT';
  }
  if (header.alg !== 'ES256') return `alg ${header.alg}, want ES256`;
  if (header.kid !== apple.keyID) return `kid ${header.kid} is not the key's`;
  const ok = verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key: apple.publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(parts[2], 'base64url'));
  if (!ok) return 'bad signature';
  const now = Math.floor(Date.now() / 1000);
  const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if (payload.iss !== apple.teamID) return `iss ${payload.iss} is not the team`;
  if (payload.sub !== apple.clientID || clientID !== apple.clientID) return `sub ${payload.sub} is not the client`;
  if (!aud.includes(`${base}/apple`)) return `aud ${payload.aud} is not the issuer`;
  if (!(payload.exp > now)) return 'expired';
  if (!(payload.iat <= now + 5)) return 'issued in the future';
  if (payload.exp - payload.iat > 15777000) return 'lives longer than six months';
  return '';
}

const readRaw = (req) => new Promise((resolve, reject) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => {
    body += chunk;
    if (body.length > 64 * 1024) reject(new Error('body too large'));
  });
  req.on('end', () => resolve(body));
  req.on('error', reject);
});

const appleUserSent = new Set();
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

appleOP.use(async (ctx, next) => {
  if (ctx.path === '/token' && ctx.method === 'POST') {
    const form = new URLSearchParams(await readRaw(ctx.req));
    const why = checkAppleSecret(form.get('client_secret'), form.get('client_id'));
    if (why) {
      console.log(`apple token endpoint: client secret refused: ${why}`);
      ctx.status = 401;
      ctx.type = 'application/json';
      ctx.body = JSON.stringify({ error: 'invalid_client', error_description: why });
      return;
    }
    form.set('client_secret', apple.internalSecret);
    ctx.req.body = Object.fromEntries(form);
  }
  await next();
  // Apple's first answer for an account carries the user's name.
  const accountId = ctx.oidc?.session?.accountId;
  if (typeof ctx.body === 'string' && ctx.body.includes('<title>Submitting Callback</title>') && accountId && !appleUserSent.has(accountId)) {
    appleUserSent.add(accountId);
    const user = JSON.stringify({ name: { firstName: 'Grace', lastName: 'Hopper' }, email: loginOf(accountId) });
    ctx.body = ctx.body.replace('<noscript>', `<input type="hidden" name="user" value="${escape(user)}"/>\n    <noscript>`);
  }
});

const page = (title, body) => `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1>${body}</body></html>`;

const send = (res, status, html) => {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(html);
};

const loginForm = (mount, uid, error) => page('Sign in', `
${error ? `<p class="error">${escape(error)}</p>` : ''}
<form method="post" action="${mount}/interaction/${uid}/login">
  <input name="login" autocomplete="username">
  <input name="password" type="password" autocomplete="current-password">
  <button type="submit">Sign in</button>
</form>
<a href="${mount}/interaction/${uid}/abort">Cancel</a>`);

// interaction runs a provider's sign-in, consent and cancel pages.
async function interaction(provider, mount, req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session, grantId } = details;
  if (req.method === 'GET' && action === '') {
    if (prompt.name === 'login') return send(res, 200, loginForm(mount, uid));
    return send(res, 200, page('Allow access', `
<p>${escape(params.client_id)} asks for: ${escape(params.scope)}</p>
<form method="post" action="${mount}/interaction/${uid}/confirm"><button type="submit">Allow</button></form>
<a href="${mount}/interaction/${uid}/abort">Cancel</a>`));
  }
  if (req.method === 'GET' && action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
  }
  if (req.method === 'POST' && action === 'login' && prompt.name === 'login') {
    const form = new URLSearchParams(await readRaw(req));
    const login = form.get('login') || '';
    if (!/^[a-z0-9.+_-]+@[a-z0-9.-]+$/.test(login) || form.get('password') !== password) {
      return send(res, 401, loginForm(mount, uid, 'Wrong login or password.'));
    }
    return provider.interactionFinished(req, res, {
      login: { accountId: `s-${login}`, amr: ['pwd'] },
    }, { mergeWithLastSubmission: false });
  }
  if (req.method === 'POST' && action === 'confirm' && prompt.name === 'consent') {
    await readRaw(req);
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    return provider.interactionFinished(req, res, {
      consent: { grantId: await grant.save() },
    }, { mergeWithLastSubmission: true });
  }
  return send(res, 400, page('Bad request', `<p>${escape(req.method)} ${escape(action)} during ${escape(prompt.name)}</p>`));
}

const mounts = [
  ['/gen', gen],
  ['/apple', appleOP],
  [`/${tenantA}/v2.0`, ms],
].map(([mount, provider]) => ({ mount, provider, callback: provider.callback() }));

// Microsoft's multi-tenant discovery: tenant A's, with the issuer templated.
async function commonDiscovery(res) {
  const r = await fetch(`${msIssuer}/.well-known/openid-configuration`);
  const doc = await r.json();
  doc.issuer = `${base}/{tenantid}/v2.0`;
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(doc));
}

const server = http.createServer(async (req, res) => {
  try {
    if (req.url === '/common/v2.0/.well-known/openid-configuration') return await commonDiscovery(res);
    for (const { mount, provider, callback } of mounts) {
      if (req.url !== mount && !req.url.startsWith(`${mount}/`) && !req.url.startsWith(`${mount}?`)) continue;
      const m = new RegExp(`^${mount.replace(/[.]/g, '\\.')}/interaction/([^/?]+)/?([a-z]*)`).exec(req.url);
      if (m) return await interaction(provider, mount, req, res, m[1], m[2]);
      req.originalUrl = req.url;
      const rest = req.url.slice(mount.length);
      req.url = rest.startsWith('/') ? rest : `/${rest}`;
      return callback(req, res);
    }
    return send(res, 404, page('Not found', ''));
  } catch (err) {
    return send(res, 400, page('Request failed', `<p>${escape(err.message)}</p>`));
  }
});

server.listen(port, '127.0.0.1', () => {
  console.log(`listening ${base}`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
