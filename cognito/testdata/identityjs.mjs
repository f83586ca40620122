// amazon-cognito-identity-js (npm) against Gatehouse's Cognito API, its
// endpoint pointed at a real Caddy (cognito/e2e_test.go TestIdentityJS).
// The flow is USER_PASSWORD_AUTH, for pools without SRP; the library's
// default, USER_SRP_AUTH, is identityjs_srp.mjs's. Exits non-zero on the
// first failure.
import assert from "node:assert/strict";
import pkg from "amazon-cognito-identity-js";
const { CognitoUserPool, CognitoUser, CognitoUserAttribute, AuthenticationDetails } = pkg;

const { ENDPOINT, BRIDGE, POOL_ID, PUBLIC_CLIENT } = process.env;
const pool = new CognitoUserPool({ UserPoolId: POOL_ID, ClientId: PUBLIC_CLIENT, endpoint: ENDPOINT + "/" });
const step = (s) => console.log("ok:", s);
const bridge = async (path) => {
  const r = await fetch(BRIDGE + path);
  assert.equal(r.status, 200);
  return r.text();
};
const cb = (resolve, reject) => (err, res) => (err ? reject(err) : resolve(res));

const email = `grace-${Date.now()}@example.com`;
const password = "correct horse battery staple 3";
const newPassword = "another horse battery staple 4";

const signed = await new Promise((res, rej) =>
  pool.signUp(email, password, [new CognitoUserAttribute({ Name: "email", Value: email })], null, cb(res, rej)));
assert.equal(signed.userConfirmed, false);
assert.ok(signed.userSub);
step("signUp");

const user = () => {
  const u = new CognitoUser({ Username: email, Pool: pool });
  u.setAuthenticationFlowType("USER_PASSWORD_AUTH");
  return u;
};
let u = user();
const code = await bridge(`/mail?to=${encodeURIComponent(email)}&n=1`);
const other = (c) => (c === "000000" ? "111111" : "000000");
const mismatch = await new Promise((res, rej) => u.confirmRegistration(other(code), true, (err) => (err ? res(err) : rej(new Error("a wrong code confirmed")))));
assert.equal(mismatch.code, "CodeMismatchException");
await new Promise((res, rej) => u.confirmRegistration(code, true, cb(res, rej)));
step("confirmRegistration");

// Sign-in; a wrong password is onFailure with NotAuthorizedException.
const failed = await new Promise((res) => user().authenticateUser(new AuthenticationDetails({ Username: email, Password: "wrong one 123" }), {
  onSuccess: () => res(null), onFailure: res,
}));
assert.equal(failed.code, "NotAuthorizedException");
u = user();
let session = await new Promise((res, rej) => u.authenticateUser(new AuthenticationDetails({ Username: email, Password: password }), {
  onSuccess: res, onFailure: rej,
}));
assert.equal(session.getIdToken().payload.email, email);
assert.ok(session.isValid());
step("authenticateUser (USER_PASSWORD_AUTH)");

const attrs = await new Promise((res, rej) => u.getUserAttributes(cb(res, rej)));
assert.equal(attrs.find((a) => a.getName() === "email").getValue(), email);
step("getUserAttributes");

// TOTP set-up, then a sign-in answering totpRequired.
const secret = await new Promise((res, rej) => u.associateSoftwareToken({ associateSecretCode: res, onFailure: rej }));
const first = await bridge(`/totp?secret=${secret}&steps=0`);
const refused = await new Promise((res, rej) => u.verifySoftwareToken(other(first), "phone", {
  onSuccess: () => rej(new Error("a wrong code verified")), onFailure: res,
}));
assert.equal(refused.code, "EnableSoftwareTokenMFAException");
await new Promise((res, rej) => u.verifySoftwareToken(first, "phone", { onSuccess: res, onFailure: rej }));
await new Promise((res, rej) => u.setUserMfaPreference(null, { PreferredMfa: true, Enabled: true }, cb(res, rej)));
step("associateSoftwareToken, verifySoftwareToken, setUserMfaPreference");

u = user();
session = await new Promise((res, rej) => u.authenticateUser(new AuthenticationDetails({ Username: email, Password: password }), {
  onSuccess: () => rej(new Error("no second factor asked")),
  onFailure: rej,
  totpRequired: async () => {
    const next = await bridge(`/totp?secret=${secret}&steps=1`);
    u.sendMFACode(next, { onSuccess: res, onFailure: rej }, "SOFTWARE_TOKEN_MFA");
  },
}));
assert.deepEqual([...session.getIdToken().payload.amr].sort(), ["mfa", "otp", "pwd"]);
step("sign-in with totpRequired / sendMFACode");

const refreshed = await new Promise((res, rej) => u.refreshSession(session.getRefreshToken(), cb(res, rej)));
assert.ok(refreshed.getAccessToken().getJwtToken());
step("refreshSession");

await new Promise((r) => setTimeout(r, 1100)); // the deny list counts in seconds
await new Promise((res, rej) => u.globalSignOut({ onSuccess: res, onFailure: rej }));
const after = await new Promise((res) => {
  const v = user();
  v.setSignInUserSession(refreshed);
  v.getUserAttributes((err) => res(err));
});
assert.equal(after?.code, "NotAuthorizedException");
step("globalSignOut");

u = user();
await new Promise((res, rej) => u.forgotPassword({ onSuccess: res, onFailure: rej, inputVerificationCode: res }));
const resetCode = await bridge(`/mail?to=${encodeURIComponent(email)}&n=2`);
await new Promise((res, rej) => u.confirmPassword(resetCode, newPassword, { onSuccess: res, onFailure: rej }));
const mfaAgain = await new Promise((res, rej) => user().authenticateUser(new AuthenticationDetails({ Username: email, Password: newPassword }), {
  onSuccess: () => rej(new Error("no second factor asked")), onFailure: rej, totpRequired: (name) => res(name),
}));
assert.equal(mfaAgain, "SOFTWARE_TOKEN_MFA");
step("forgotPassword, confirmPassword");
console.log("ALL OK");
