// The Amplify app, configured as a Cognito app moved to Gatehouse is:
// userPoolEndpoint for the API, loginWith.oauth.domain for the hosted UI.
// Bundled for the browser by module/browser_cognito_test.go (esbuild).
import { Amplify } from 'aws-amplify';
import {
  associateWebAuthnCredential, fetchAuthSession, getCurrentUser, listWebAuthnCredentials, signIn, signInWithRedirect, signOut,
} from 'aws-amplify/auth';
import { Hub } from 'aws-amplify/utils';

const cfg = window.APP_CONFIG;
Amplify.configure({
  Auth: {
    Cognito: {
      userPoolId: cfg.poolId,
      userPoolClientId: cfg.clientId,
      userPoolEndpoint: cfg.endpoint,
      loginWith: {
        email: true,
        oauth: {
          domain: cfg.oauthDomain,
          scopes: ['openid', 'email', 'profile'],
          redirectSignIn: [cfg.app + '/amplify.html'],
          redirectSignOut: [cfg.app + '/amplify.html'],
          responseType: 'code',
        },
      },
    },
  },
});

// refresh shows who is signed in, from Amplify's own session.
async function refresh() {
  try {
    await getCurrentUser();
    const { tokens } = await fetchAuthSession();
    window.tokens = { id: tokens.idToken.toString(), access: tokens.accessToken.toString(), claims: tokens.idToken.payload };
    page.show(`signed in as ${tokens.idToken.payload.email}`);
  } catch (err) {
    window.tokens = null;
    if (err.name !== 'UserUnAuthenticatedException') page.fail(err);
    page.show('signed out');
  }
}

Hub.listen('auth', ({ payload }) => {
  if (payload.event === 'signInWithRedirect') refresh();
  if (payload.event === 'signInWithRedirect_failure') page.fail(payload.data && payload.data.error);
});

document.getElementById('signin').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  page.clear();
  page.show('signing in');
  try {
    const res = await signIn({ username: document.getElementById('email').value, password: document.getElementById('password').value });
    window.signInResult = res;
  } catch (err) {
    page.fail(err);
  }
  await refresh();
});

// Passkeys: add one to the signed-in user, and sign in with one alone
// (USER_AUTH, the WEB_AUTHN challenge answered by the browser).
document.getElementById('passkey-add').addEventListener('click', async () => {
  page.clear();
  try {
    await associateWebAuthnCredential();
    const { credentials } = await listWebAuthnCredentials();
    window.passkeys = credentials;
    page.show(`passkeys: ${credentials.length}`);
  } catch (err) {
    page.fail(err);
  }
});

document.getElementById('passkey-signin').addEventListener('click', async () => {
  page.clear();
  page.show('signing in');
  try {
    window.signInResult = await signIn({
      username: document.getElementById('email').value,
      options: { authFlowType: 'USER_AUTH', preferredChallenge: 'WEB_AUTHN' },
    });
  } catch (err) {
    page.fail(err);
  }
  await refresh();
});

document.getElementById('hosted').addEventListener('click', () => {
  page.clear();
  signInWithRedirect().catch(page.fail);
});

for (const [id, opts] of [['signout', {}], ['signoutall', { global: true }]]) {
  document.getElementById(id).addEventListener('click', async () => {
    page.clear();
    try {
      await signOut(opts);
    } catch (err) {
      page.fail(err);
    }
    await refresh();
  });
}

refresh();
