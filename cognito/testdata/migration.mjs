// Lazy migration and CUSTOM_AUTH through the AWS SDK for JavaScript v3,
// against Gatehouse's Cognito API with real hook receivers
// (cognito/migration_e2e_test.go starts them and the server). Exits
// non-zero on the first step that does not go as Cognito's would.
import assert from "node:assert/strict";
import {
  CognitoIdentityProviderClient, InitiateAuthCommand, RespondToAuthChallengeCommand,
  GetUserCommand, ForgotPasswordCommand, ConfirmForgotPasswordCommand, AdminInitiateAuthCommand,
} from "@aws-sdk/client-cognito-identity-provider";

const { ENDPOINT, BRIDGE, CLIENT, OLD_USER, OLD_PASSWORD, RESET_USER, KNOWN_USER, ADMIN_USER, POOL_ID, KEY_ID, SECRET } = process.env;
const client = new CognitoIdentityProviderClient({
  region: "us-east-1",
  endpoint: ENDPOINT,
  credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" },
  maxAttempts: 1,
});
const send = (c) => client.send(c);
const step = (s) => console.log("ok:", s);

async function expectError(p, name, message) {
  try {
    await p;
  } catch (err) {
    assert.equal(err.name, name, `want ${name}, got ${err.name}: ${err.message}`);
    if (message !== undefined) assert.equal(err.message, message);
    return err;
  }
  assert.fail(`want ${name}, got success`);
}
const bridge = async (path) => {
  const r = await fetch(BRIDGE + path);
  assert.equal(r.status, 200, await r.clone().text());
  return r.text();
};

const passwordAuth = (username, password, meta) => send(new InitiateAuthCommand({
  AuthFlow: "USER_PASSWORD_AUTH", ClientId: CLIENT,
  AuthParameters: { USERNAME: username, PASSWORD: password }, ClientMetadata: meta,
}));

// A user of the old system signs in: made on the way, tokens at once.
const first = await passwordAuth(OLD_USER, OLD_PASSWORD, { app: "migration.mjs" });
assert.ok(first.AuthenticationResult?.AccessToken, JSON.stringify(first));
const me = await send(new GetUserCommand({ AccessToken: first.AuthenticationResult.AccessToken }));
const attr = (n) => me.UserAttributes.find((a) => a.Name === n)?.Value;
assert.equal(attr("email"), OLD_USER.toLowerCase());
assert.equal(attr("email_verified"), "true");
assert.equal(attr("given_name"), "Grace");
step("old system's user migrated at sign-in (USER_PASSWORD_AUTH)");

// The second time the pool knows them (the test counts the hook's calls).
const second = await passwordAuth(OLD_USER, OLD_PASSWORD);
assert.ok(second.AuthenticationResult?.AccessToken);
step("second sign-in without the hook");

// Every refusal is the wrong password's answer: a wrong password of the
// migrated user, an address neither system knows, and a hook that denies,
// fails, times out, or answers nonsense or another user.
const wrong = await expectError(passwordAuth(OLD_USER, "not the password at all"), "NotAuthorizedException");
for (const login of ["nobody@example.com", "deny@example.com", "down@example.com", "slow@example.com",
  "badjson@example.com", "other@example.com", "empty@example.com"]) {
  const err = await expectError(passwordAuth(login, OLD_PASSWORD), "NotAuthorizedException", wrong.message);
  assert.equal(err.$metadata.httpStatusCode, 400);
}
step("refusals, failures and timeouts look like a wrong password");

// ADMIN_USER_PASSWORD_AUTH, signed with a pool access key, migrates too.
const admin = new CognitoIdentityProviderClient({
  region: "us-east-1", endpoint: ENDPOINT, credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET }, maxAttempts: 1,
});
const adminAuth = (password) => admin.send(new AdminInitiateAuthCommand({
  UserPoolId: POOL_ID, ClientId: CLIENT, AuthFlow: "ADMIN_USER_PASSWORD_AUTH",
  AuthParameters: { USERNAME: ADMIN_USER, PASSWORD: password },
}));
await expectError(adminAuth("not the old password"), "NotAuthorizedException", wrong.message);
assert.ok((await adminAuth(OLD_PASSWORD)).AuthenticationResult?.AccessToken);
step("ADMIN_USER_PASSWORD_AUTH: a wrong password refused, the right one migrates");

// A forgotten password of an old-system user: made RESET_REQUIRED, the
// code mailed, the new password set.
const fp = await send(new ForgotPasswordCommand({ ClientId: CLIENT, Username: RESET_USER }));
assert.equal(fp.CodeDeliveryDetails.DeliveryMedium, "EMAIL");
const code = await bridge(`/mail?to=${encodeURIComponent(RESET_USER)}&n=1`);
await send(new ConfirmForgotPasswordCommand({ ClientId: CLIENT, Username: RESET_USER, ConfirmationCode: code, Password: "a brand new password 42" }));
assert.ok((await passwordAuth(RESET_USER, "a brand new password 42")).AuthenticationResult?.AccessToken);
step("forgotten password of an old-system user: migrated, reset, signed in");

// CUSTOM_AUTH: the question of the create hook, a wrong answer, a right one.
const custom = (username) => send(new InitiateAuthCommand({
  AuthFlow: "CUSTOM_AUTH", ClientId: CLIENT, AuthParameters: { USERNAME: username }, ClientMetadata: { app: "migration.mjs" },
}));
const answer = (c, username, ans) => send(new RespondToAuthChallengeCommand({
  ClientId: CLIENT, ChallengeName: "CUSTOM_CHALLENGE", Session: c.Session,
  ChallengeResponses: { USERNAME: username, ANSWER: ans },
}));
let c = await custom(KNOWN_USER);
assert.equal(c.ChallengeName, "CUSTOM_CHALLENGE");
assert.equal(c.ChallengeParameters.question, "What is 6 times 7?");
assert.equal(c.ChallengeParameters.answer, undefined, "private parameters must not leave the server");
// The Session is sealed: neither the question nor the private answer can be read in it. (A
// check for "42" alone fails by chance on random ciphertext; these phrases cannot.)
for (const text of ["What is 6 times 7", "\"answer\""]) {
  assert.ok(!Buffer.from(c.Session, "base64url").toString("latin1").includes(text) && !c.Session.includes(text), text);
}
const again = await answer(c, KNOWN_USER, "41");
assert.equal(again.ChallengeName, "CUSTOM_CHALLENGE");
await expectError(answer(c, KNOWN_USER, "42"), "NotAuthorizedException"); // a spent session
const done = await answer(again, KNOWN_USER, "42");
assert.ok(done.AuthenticationResult?.AccessToken, JSON.stringify(done));
const payload = JSON.parse(Buffer.from(done.AuthenticationResult.IdToken.split(".")[1], "base64url"));
assert.deepEqual(payload.amr, ["custom"]);
step("CUSTOM_AUTH: CUSTOM_CHALLENGE, a wrong answer, a right one, tokens (amr custom)");

// An unknown login gets the same challenge, and never tokens.
c = await custom("stranger@example.com");
assert.equal(c.ChallengeName, "CUSTOM_CHALLENGE");
assert.deepEqual(Object.keys(c.ChallengeParameters).sort(), ["USERNAME", "question"]);
const s1 = await answer(c, "stranger@example.com", "42");
assert.equal(s1.ChallengeName, "CUSTOM_CHALLENGE");
const s2 = await answer(s1, "stranger@example.com", "42");
await expectError(answer(s2, "stranger@example.com", "42"), "NotAuthorizedException", wrong.message);
step("CUSTOM_AUTH of an unknown login: the same challenges, then the wrong password's answer");

console.log("ALL OK");
