// Builds the classic hosted-UI links with PKCE and, back with a code,
// exchanges it at /oauth2/token from the browser (CORS).
const cfg = window.APP_CONFIG;
const redirectURI = cfg.app + '/hostedui.html';
const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

async function links(shown = 'signed out') {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  const challenge = b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  sessionStorage.setItem('pkce', JSON.stringify({ verifier, state }));
  const q = new URLSearchParams({
    client_id: cfg.clientId, response_type: 'code', redirect_uri: redirectURI, scope: 'openid email',
    state, code_challenge: challenge, code_challenge_method: 'S256',
  });
  document.getElementById('login').href = `${cfg.endpoint}/login?${q}`;
  document.getElementById('signup').href = `${cfg.endpoint}/signup?${q}`;
  document.getElementById('switch').href = `${cfg.endpoint}/logout?${q}`;
  page.show(shown);
}

async function exchange(params) {
  const { verifier, state } = JSON.parse(sessionStorage.getItem('pkce') || '{}');
  if (params.get('state') !== state) throw new Error(`state ${params.get('state')}, want ${state}`);
  const r = await fetch(cfg.endpoint + '/oauth2/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code: params.get('code'), client_id: cfg.clientId,
      redirect_uri: redirectURI, code_verifier: verifier,
    }),
  });
  const body = await r.json();
  if (!r.ok) throw Object.assign(new Error(body.error_description || body.error), { code: body.error });
  const claims = JSON.parse(atob(body.id_token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
  window.tokens = { id: body.id_token, access: body.access_token, claims };
  page.show(`signed in as ${claims.email}`);
  await links(`signed in as ${claims.email}`); // fresh PKCE for the next link
}

const params = new URLSearchParams(location.search);
if (params.has('code')) {
  exchange(params).catch((err) => { page.show('exchange failed'); page.fail(err); });
} else {
  links().catch(page.fail);
}
