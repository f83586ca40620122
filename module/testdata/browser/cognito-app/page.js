// What every page of the test app shares: showing state and errors, and a
// raw GetUser call, for what a library cannot be asked (whether a token it
// dropped still works).
window.page = {
  show(state) {
    document.getElementById('state').textContent = state;
  },
  fail(err) {
    const name = (err && (err.code || err.name)) || 'Error';
    document.getElementById('error').textContent = `${name}: ${err && err.message}`;
  },
  clear() {
    document.getElementById('error').textContent = '';
  },
  async rawGetUser(accessToken) {
    const r = await fetch(APP_CONFIG.endpoint + '/', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'AWSCognitoIdentityProviderService.GetUser' },
      body: JSON.stringify({ AccessToken: accessToken }),
    });
    return { status: r.status, body: await r.json() };
  },
  // credentialedCall makes the same call with credentials: 'include': the
  // browser must refuse it, the API never allowing credentials.
  async credentialedCall() {
    try {
      const r = await fetch(APP_CONFIG.endpoint + '/', {
        method: 'POST',
        credentials: 'include',
        headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'AWSCognitoIdentityProviderService.GetUser' },
        body: JSON.stringify({ AccessToken: 'x' }),
      });
      return `answered ${r.status}`;
    } catch (err) {
      return `refused: ${err}`;
    }
  },
};
