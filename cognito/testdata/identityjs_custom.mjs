// amazon-cognito-identity-js (npm) against a pool with `srp on`, a user
// migration hook and the custom-challenge trio, behind a real Caddy
// (cognito/migration_e2e_test.go TestIdentityJSMigrationAndCustomAuth).
// Exits non-zero on the first failure.
import assert from "node:assert/strict";
import pkg from "amazon-cognito-identity-js";
const { CognitoUserPool, CognitoUser, AuthenticationDetails } = pkg;

const { ENDPOINT, POOL_ID, CLIENT, OLD_USER, OLD_PASSWORD, SRP_ONLY_USER } = process.env;
const pool = new CognitoUserPool({ UserPoolId: POOL_ID, ClientId: CLIENT, endpoint: ENDPOINT + "/" });
const step = (s) => console.log("ok:", s);

const signIn = (username, password, flow, extra = {}) => new Promise((res, rej) => {
  const u = new CognitoUser({ Username: username, Pool: pool });
  if (flow) u.setAuthenticationFlowType(flow);
  u.authenticateUser(new AuthenticationDetails({ Username: username, Password: password }), {
    onSuccess: res, onFailure: rej,
    totpRequired: () => rej(new Error("a second factor asked of a user without one")),
    customChallenge(params) {
      if (!extra.customChallenge) return rej(new Error("an unexpected custom challenge"));
      extra.customChallenge(u, params, this);
    },
  });
});

// USER_PASSWORD_AUTH (what Cognito's migration needs): the old system's
// user is migrated at sign-in.
let s = await signIn(OLD_USER, OLD_PASSWORD, "USER_PASSWORD_AUTH");
assert.equal(s.getIdToken().payload.email, OLD_USER.toLowerCase());
step("USER_PASSWORD_AUTH migrates the old system's user");

// The library's default, USER_SRP_AUTH, works for the migrated user: the
// verifier was made from the password the old system vouched for.
s = await signIn(OLD_USER, OLD_PASSWORD);
assert.deepEqual(s.getIdToken().payload.amr, ["pwd"]);
step("USER_SRP_AUTH for the migrated user");

// As Cognito, USER_SRP_AUTH never calls the migration hook: the password
// never reaches the pool. A user only the old system knows is refused.
const refused = await signIn(SRP_ONLY_USER, OLD_PASSWORD).then(() => null, (e) => e);
assert.equal(refused?.code, "NotAuthorizedException", String(refused));
step("USER_SRP_AUTH of an old-system user: NotAuthorizedException, no migration");

// CUSTOM_AUTH with a password: SRP_A, PASSWORD_VERIFIER, then the custom
// challenge, answered wrong once, then right.
let asked = 0;
s = await signIn(OLD_USER, OLD_PASSWORD, "CUSTOM_AUTH", {
  customChallenge(u, params, callbacks) {
    asked++;
    assert.equal(params.question, "What is 6 times 7?");
    assert.equal(params.answer, undefined);
    u.sendCustomChallengeAnswer(asked === 1 ? "41" : "42", callbacks);
  },
});
assert.equal(asked, 2);
assert.deepEqual(s.getIdToken().payload.amr, ["pwd", "custom"]);
step("CUSTOM_AUTH: SRP_A, PASSWORD_VERIFIER, CUSTOM_CHALLENGE (wrong, then right)");

// CUSTOM_AUTH with a wrong password ends at PASSWORD_VERIFIER.
const wrong = await signIn(OLD_USER, "not the password", "CUSTOM_AUTH", {
  customChallenge: () => { throw new Error("a custom challenge after a wrong password"); },
}).then(() => null, (e) => e);
assert.equal(wrong?.code, "NotAuthorizedException", String(wrong));
step("CUSTOM_AUTH with a wrong password: NotAuthorizedException");

console.log("ALL OK");
