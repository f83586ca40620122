// amazon-cognito-identity-js (npm) signing in with SMS_MFA against a pool
// with a custom SMS sender (cognito/sms_e2e_test.go TestIdentityJSSMS):
// the library's mfaRequired callback, then sendMFACode with the texted
// code. The test made the user (verified number, SMS codes on).
import assert from "node:assert/strict";
import pkg from "amazon-cognito-identity-js";
const { CognitoUserPool, CognitoUser, AuthenticationDetails } = pkg;

const { ENDPOINT, BRIDGE, POOL_ID, PUBLIC_CLIENT, EMAIL, PASSWORD, PHONE } = process.env;
const pool = new CognitoUserPool({ UserPoolId: POOL_ID, ClientId: PUBLIC_CLIENT, endpoint: ENDPOINT + "/" });
const bridge = async (path) => {
  const r = await fetch(BRIDGE + path);
  assert.equal(r.status, 200);
  return r.text();
};
const u = new CognitoUser({ Username: EMAIL, Pool: pool });
u.setAuthenticationFlowType("USER_PASSWORD_AUTH");
const session = await new Promise((res, rej) => u.authenticateUser(new AuthenticationDetails({ Username: EMAIL, Password: PASSWORD }), {
  onSuccess: () => rej(new Error("no second factor asked")),
  onFailure: rej,
  mfaRequired: async (name, params) => {
    try {
      assert.equal(name, "SMS_MFA");
      assert.equal(params.CODE_DELIVERY_DELIVERY_MEDIUM, "SMS");
      assert.equal(params.CODE_DELIVERY_DESTINATION, "+*******0100");
      const code = await bridge(`/sms?to=${encodeURIComponent(PHONE)}&n=1`);
      u.sendMFACode(code, { onSuccess: res, onFailure: rej }, "SMS_MFA");
    } catch (err) {
      rej(err);
    }
  },
}));
assert.ok(session.isValid());
assert.equal(session.getIdToken().payload.email, EMAIL);
console.log("ok: sign-in with mfaRequired / sendMFACode SMS_MFA");
console.log("ALL OK");
