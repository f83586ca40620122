// A single-page app as an operator would write one with oidc-client-ts's
// browser bundle (global `oidc`), as a public client with PKCE. The test
// drives it through window.spa; each page says what it did in #state.
/* global oidc, SPA_CONFIG */
'use strict';

const mgr = new oidc.UserManager({
  authority: SPA_CONFIG.issuer,
  client_id: SPA_CONFIG.clientId,
  redirect_uri: SPA_CONFIG.origin + '/callback.html',
  post_logout_redirect_uri: SPA_CONFIG.origin + '/signed-out.html',
  response_type: 'code',
  scope: 'openid email profile',
  automaticSilentRenew: false,
  filterProtocolClaims: false, // the test reads iss and amr
  revokeTokensOnSignout: window.__revoke === true,
  userStore: new oidc.WebStorageStateStore({ store: window.localStorage }),
});

function show(state, data) {
  document.getElementById('state').textContent = state;
  document.getElementById('out').textContent = data === undefined ? '' : JSON.stringify(data);
}

async function userinfo(accessToken) {
  const res = await fetch(SPA_CONFIG.issuer + '/oauth2/userInfo', { headers: { Authorization: 'Bearer ' + accessToken } });
  return { status: res.status, body: res.status === 200 ? await res.json() : null };
}

window.spa = {
  login: () => mgr.signinRedirect(),
  logout: () => mgr.signoutRedirect(),
  async user() {
    const u = await mgr.getUser();
    return u && { profile: u.profile, accessToken: u.access_token, refresh: !!u.refresh_token, expiresAt: u.expires_at };
  },
  async userinfo() {
    const u = await mgr.getUser();
    return userinfo(u.access_token);
  },
  userinfoWith: userinfo,
  async renew() {
    const u = await mgr.signinSilent();
    return { profile: u.profile, accessToken: u.access_token };
  },
};

window.addEventListener('DOMContentLoaded', async () => {
  const path = window.location.pathname;
  try {
    if (path === '/callback.html') {
      const u = await mgr.signinRedirectCallback();
      show('signed in as ' + u.profile.email, u.profile);
    } else if (path === '/signed-out.html') {
      await mgr.signoutRedirectCallback();
      show('signed out');
    } else {
      const u = await mgr.getUser();
      show(u ? 'signed in as ' + u.profile.email : 'anonymous');
    }
  } catch (err) {
    show('error: ' + err.message);
  }
});
