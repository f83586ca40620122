// amazon-cognito-identity-js and the AWS SDK's Cognito client against a pool
// with `sign_in_with email username phone` and `srp on` behind a real Caddy
// (cognito/aliases_e2e_test.go TestCognitoAliases): a user signs up with a
// preferred_username and signs in with it, in another case, by SRP (the
// library's default) and by USER_PASSWORD_AUTH; an unknown name is refused
// as a wrong password is; a second sign-up with the name (another case) is
// AliasExistsException; ForgotPassword and ConfirmForgotPassword take the
// name; AdminGetUser finds the user by the name and by the verified
// number. Exits non-zero on the first failure; prints ALL OK.
import assert from "node:assert/strict";
import pkg from "amazon-cognito-identity-js";
import { CognitoIdentityProviderClient, AdminGetUserCommand, AdminUpdateUserAttributesCommand, SignUpCommand, ForgotPasswordCommand } from "@aws-sdk/client-cognito-identity-provider";
const { CognitoUserPool, CognitoUser, CognitoUserAttribute, AuthenticationDetails } = pkg;

const { ENDPOINT, BRIDGE, POOL_ID, SRP_CLIENT, PUBLIC_CLIENT, KEY_ID, SECRET } = process.env;
const pool = new CognitoUserPool({ UserPoolId: POOL_ID, ClientId: SRP_CLIENT, endpoint: ENDPOINT + "/" });
// PUBLIC_CLIENT allows USER_PASSWORD_AUTH.
const passwordPool = new CognitoUserPool({ UserPoolId: POOL_ID, ClientId: PUBLIC_CLIENT, endpoint: ENDPOINT + "/" });
const sdk = (credentials) => new CognitoIdentityProviderClient({ region: "us-east-1", endpoint: ENDPOINT, credentials, maxAttempts: 1 });
const admin = sdk({ accessKeyId: KEY_ID, secretAccessKey: SECRET });
const anon = sdk({ accessKeyId: "x", secretAccessKey: "x" }); // the public calls are not signed-checked
const step = (s) => console.log("ok:", s);
const bridge = async (path) => {
  const r = await fetch(BRIDGE + path);
  assert.equal(r.status, 200);
  return r.text();
};
const cb = (resolve, reject) => (err, res) => (err ? reject(err) : resolve(res));

const stamp = Date.now();
const email = `ada-alias-${stamp}@example.com`;
const username = `Ada_Alias.${stamp}`;
const password = "correct horse battery staple 5";

const signed = await new Promise((res, rej) => pool.signUp(email, password, [
  new CognitoUserAttribute({ Name: "email", Value: email }),
  new CognitoUserAttribute({ Name: "preferred_username", Value: username }),
], null, cb(res, rej)));
const code = await bridge(`/mail?to=${encodeURIComponent(email)}&n=1`);
await new Promise((res, rej) => new CognitoUser({ Username: email, Pool: pool }).confirmRegistration(code, true, cb(res, rej)));
step("signUp with preferred_username, confirmRegistration");

const signIn = (name, pw, flow) => {
  const u = new CognitoUser({ Username: name, Pool: flow ? passwordPool : pool });
  if (flow) u.setAuthenticationFlowType(flow);
  return new Promise((res, rej) => u.authenticateUser(new AuthenticationDetails({ Username: name, Password: pw }), {
    onSuccess: (s) => res({ u, s }), onFailure: rej,
    totpRequired: () => rej(new Error("a second factor asked of a user without one")),
  }));
};
// SRP, the library's default: the name (in capitals) finds the user; the
// verifier is the user's, made with their id (USER_ID_FOR_SRP).
let { u, s } = await signIn(username.toUpperCase(), password);
assert.equal(s.getIdToken().payload.email, email);
assert.equal(s.getIdToken().payload.sub, signed.userSub);
assert.equal(s.getIdToken().payload.preferred_username, username);
assert.equal(u.getUsername(), signed.userSub, "after SRP the library names the user by USER_ID_FOR_SRP, the id");
step("USER_SRP_AUTH by preferred_username, in another case");
({ s } = await signIn(username.toLowerCase(), password, "USER_PASSWORD_AUTH"));
assert.equal(s.getIdToken().payload.sub, signed.userSub);
step("USER_PASSWORD_AUTH by preferred_username");

// Refusals: an unknown name, a wrong password by the name: alike.
const refusal = (name, pw, flow) => signIn(name, pw, flow).then(() => new Error("signed in"), (e) => e);
const wrong = await refusal(username, "wrong horse battery staple 5");
const unknown = await refusal(`nobody_${stamp}`, password);
const unknownPhone = await refusal("+15555550177", password);
for (const e of [wrong, unknown, unknownPhone]) {
  assert.equal(e.code, "NotAuthorizedException", String(e));
  assert.equal(e.message, "Incorrect username or password.");
}
step("unknown name, unknown number and wrong password: NotAuthorizedException alike (SRP)");

// The name taken, in another case: Cognito's AliasExistsException.
await assert.rejects(anon.send(new SignUpCommand({ ClientId: SRP_CLIENT, Username: `eve-${stamp}@example.com`, Password: password,
  UserAttributes: [{ Name: "preferred_username", Value: username.toLowerCase() }] })), (e) => e.name === "AliasExistsException");
step("SignUp with a taken preferred_username: AliasExistsException");

// ForgotPassword by the name: the answer names no address (the masked
// name), the code goes to the address.
const fp = await anon.send(new ForgotPasswordCommand({ ClientId: SRP_CLIENT, Username: username }));
assert.ok(!fp.CodeDeliveryDetails.Destination.includes("example.com"), JSON.stringify(fp.CodeDeliveryDetails));
const unknownFp = await anon.send(new ForgotPasswordCommand({ ClientId: SRP_CLIENT, Username: `nobody_${stamp}` }));
assert.deepEqual(unknownFp.CodeDeliveryDetails, fp.CodeDeliveryDetails);
const resetCode = await bridge(`/mail?to=${encodeURIComponent(email)}&n=2`);
const next = "a brand new passphrase 9";
await new Promise((res, rej) => new CognitoUser({ Username: username, Pool: pool }).confirmPassword(resetCode, next, { onSuccess: res, onFailure: rej }));
({ s } = await signIn(username, next));
assert.equal(s.getIdToken().payload.sub, signed.userSub);
step("ForgotPassword / ConfirmForgotPassword by the name, SRP with the new password");

// Admin calls take the aliases: the name, and a verified number.
let got = await admin.send(new AdminGetUserCommand({ UserPoolId: POOL_ID, Username: username.toLowerCase() }));
assert.equal(got.Username, signed.userSub);
await admin.send(new AdminUpdateUserAttributesCommand({ UserPoolId: POOL_ID, Username: email,
  UserAttributes: [{ Name: "phone_number", Value: "+15555550142" }, { Name: "phone_number_verified", Value: "true" }] }));
got = await admin.send(new AdminGetUserCommand({ UserPoolId: POOL_ID, Username: "+15555550142" }));
assert.equal(got.Username, signed.userSub);
({ s } = await signIn("+15555550142", next));
assert.equal(s.getIdToken().payload.sub, signed.userSub);
step("AdminGetUser by preferred_username and by verified phone_number; SRP by the number");

console.log("ALL OK");
