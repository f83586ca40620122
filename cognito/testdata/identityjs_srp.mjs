// amazon-cognito-identity-js (npm) signing in with its default flow,
// USER_SRP_AUTH, against a pool with `srp on` behind a real Caddy
// (cognito/srp_e2e_test.go TestIdentityJSSRP). Exits non-zero on the first
// failure.
import assert from "node:assert/strict";
import pkg from "amazon-cognito-identity-js";
const { CognitoUserPool, CognitoUser, CognitoUserAttribute, AuthenticationDetails } = pkg;

const { ENDPOINT, BRIDGE, POOL_ID, SRP_CLIENT } = process.env;
// SRP_CLIENT has refresh_token_rotation off, as a Cognito app client.
const pool = new CognitoUserPool({ UserPoolId: POOL_ID, ClientId: SRP_CLIENT, endpoint: ENDPOINT + "/" });
const step = (s) => console.log("ok:", s);
const bridge = async (path) => {
  const r = await fetch(BRIDGE + path);
  assert.equal(r.status, 200);
  return r.text();
};
const cb = (resolve, reject) => (err, res) => (err ? reject(err) : resolve(res));
const payload = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());

const email = `ada-srp-${Date.now()}@example.com`;
const password = "correct horse battery staple 5";

// Sign-up through the API makes the user's verifier.
const signed = await new Promise((res, rej) =>
  pool.signUp(email, password, [new CognitoUserAttribute({ Name: "email", Value: email })], null, cb(res, rej)));
const user = () => new CognitoUser({ Username: email, Pool: pool }); // the default flow: USER_SRP_AUTH
const code = await bridge(`/mail?to=${encodeURIComponent(email)}&n=1`);
await new Promise((res, rej) => user().confirmRegistration(code, true, cb(res, rej)));
step("signUp, confirmRegistration");

// The library's default authenticateUser: InitiateAuth USER_SRP_AUTH, then
// PASSWORD_VERIFIER with its signature.
let u = user();
let session = await new Promise((res, rej) => u.authenticateUser(new AuthenticationDetails({ Username: email, Password: password }), {
  onSuccess: res, onFailure: rej,
  totpRequired: () => rej(new Error("a second factor asked of a user without one")),
}));
const id = session.getIdToken().payload;
assert.equal(id.email, email);
assert.equal(id.sub, signed.userSub);
assert.equal(u.getUsername(), signed.userSub, "after SRP the library names the user by USER_ID_FOR_SRP, the id");
assert.ok(session.isValid());
step("authenticateUser (USER_SRP_AUTH, PASSWORD_VERIFIER)");

// Refresh twice with the first refresh token (rotation off: the answers
// carry none, the library keeps its own); the sign-in's ids stay.
const first = session.getRefreshToken().getToken();
let refreshed = session;
for (const n of [1, 2]) {
  refreshed = await new Promise((res, rej) => u.refreshSession(session.getRefreshToken(), cb(res, rej)));
  assert.equal(refreshed.getRefreshToken().getToken(), first, `refresh ${n}: the library's refresh token changed`);
  assert.notEqual(refreshed.getAccessToken().getJwtToken(), session.getAccessToken().getJwtToken());
  const p = refreshed.getIdToken().payload;
  assert.equal(p.origin_jti, id.origin_jti, `refresh ${n}: origin_jti`);
  assert.equal(p.event_id, id.event_id, `refresh ${n}: event_id`);
  assert.equal(payload(refreshed.getAccessToken().getJwtToken()).origin_jti, id.origin_jti);
}
const attrs = await new Promise((res, rej) => u.getUserAttributes(cb(res, rej)));
assert.equal(attrs.find((a) => a.getName() === "email").getValue(), email);
step("refreshSession twice with the first refresh token, still signed in");

// A wrong password, and an unknown user: the same refusal.
const refusal = (name, pw) => new Promise((res) => new CognitoUser({ Username: name, Pool: pool }).authenticateUser(
  new AuthenticationDetails({ Username: name, Password: pw }),
  { onSuccess: () => res(new Error("signed in")), onFailure: res, totpRequired: () => res(new Error("asked a code")) }));
const wrong = await refusal(email, "wrong horse battery staple 5");
assert.equal(wrong.code, "NotAuthorizedException", String(wrong));
assert.equal(wrong.message, "Incorrect username or password.");
const unknown = await refusal(`nobody-${Date.now()}@example.com`, password);
assert.equal(unknown.code, wrong.code, String(unknown));
assert.equal(unknown.message, wrong.message);
step("wrong password and unknown user: NotAuthorizedException alike");

// TOTP, then an SRP sign-in answering SOFTWARE_TOKEN_MFA (the library
// sends USERNAME = the id there).
const secret = await new Promise((res, rej) => u.associateSoftwareToken({ associateSecretCode: res, onFailure: rej }));
const setupCode = await bridge(`/totp?secret=${secret}&steps=0`);
await new Promise((res, rej) => u.verifySoftwareToken(setupCode, "phone", { onSuccess: res, onFailure: rej }));
await new Promise((res, rej) => u.setUserMfaPreference(null, { PreferredMfa: true, Enabled: true }, cb(res, rej)));
u = user();
session = await new Promise((res, rej) => u.authenticateUser(new AuthenticationDetails({ Username: email, Password: password }), {
  onSuccess: () => rej(new Error("no second factor asked")),
  onFailure: rej,
  totpRequired: async (name) => {
    assert.equal(name, "SOFTWARE_TOKEN_MFA");
    assert.equal(u.getUsername(), signed.userSub);
    u.sendMFACode(await bridge(`/totp?secret=${secret}&steps=1`), { onSuccess: res, onFailure: rej }, "SOFTWARE_TOKEN_MFA");
  },
}));
assert.deepEqual([...session.getIdToken().payload.amr].sort(), ["mfa", "otp", "pwd"]);
assert.notEqual(session.getIdToken().payload.origin_jti, id.origin_jti, "another sign-in has another origin_jti");
step("SRP sign-in with totpRequired / sendMFACode");
console.log("ALL OK");
