// The identity-js app: sign in (the library's default, USER_SRP_AUTH), get
// the user with the access token, sign out everywhere.
const { CognitoUserPool, CognitoUser, AuthenticationDetails } = AmazonCognitoIdentity;
const userPool = new CognitoUserPool({
  UserPoolId: APP_CONFIG.poolId, ClientId: APP_CONFIG.clientId, endpoint: APP_CONFIG.endpoint + '/',
});
let session = null;

function currentUser() {
  return userPool.getCurrentUser();
}

document.getElementById('signin').addEventListener('submit', (ev) => {
  ev.preventDefault();
  page.clear();
  page.show('signing in');
  const email = document.getElementById('email').value;
  const password = document.getElementById('password').value;
  const user = new CognitoUser({ Username: email, Pool: userPool });
  user.authenticateUser(new AuthenticationDetails({ Username: email, Password: password }), {
    onSuccess(s) {
      session = s;
      window.tokens = { id: s.getIdToken().getJwtToken(), access: s.getAccessToken().getJwtToken(), refresh: s.getRefreshToken().getToken() };
      page.show(`signed in as ${s.getIdToken().payload.email}`);
    },
    onFailure(err) {
      page.show('signed out');
      page.fail(err);
    },
  });
});

document.getElementById('getuser').addEventListener('click', () => {
  page.clear();
  const user = currentUser();
  if (!user) return page.fail(new Error('no user'));
  user.getSession((err) => {
    if (err) return page.fail(err);
    user.getUserAttributes((err2, attrs) => {
      if (err2) return page.fail(err2);
      const email = attrs.find((a) => a.getName() === 'email').getValue();
      document.getElementById('user').textContent = `${user.getUsername()} ${email}`;
    });
  });
});

document.getElementById('signout').addEventListener('click', () => {
  page.clear();
  const user = currentUser();
  if (!user) return page.fail(new Error('no user'));
  user.getSession((err) => {
    if (err) return page.fail(err);
    user.globalSignOut({
      onSuccess() {
        session = null;
        page.show('signed out everywhere');
      },
      onFailure: page.fail,
    });
  });
});

page.show(currentUser() ? 'signed in (stored)' : 'signed out');
