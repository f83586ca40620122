// Choice-based sign-in (USER_AUTH) with the AWS SDK for JavaScript v3's
// Cognito client against Gatehouse behind a real Caddy
// (cognito/userauth_e2e_test.go TestUserAuthSDK starts it, with users ada
// and bob (password and passkey), cy (password), pat (no password)).
// Codes come from the real SMTP server and passkey assertions from a
// software authenticator, both through the test's bridge. SRP's
// arithmetic is amazon-cognito-identity-js's AuthenticationHelper. Exits
// non-zero on the first step that does not go as Cognito's would.
import crypto from "node:crypto";
import assert from "node:assert/strict";
import {
  CognitoIdentityProviderClient, InitiateAuthCommand, RespondToAuthChallengeCommand, GetUserCommand,
  StartWebAuthnRegistrationCommand, CompleteWebAuthnRegistrationCommand, ListWebAuthnCredentialsCommand,
  DeleteWebAuthnCredentialCommand,
} from "@aws-sdk/client-cognito-identity-provider";
import identity from "amazon-cognito-identity-js";
const { AuthenticationHelper, DateHelper } = identity;

const { ENDPOINT, BRIDGE, POOL_ID, CLIENT, PASSWORD, SUB_ADA } = process.env;
const client = new CognitoIdentityProviderClient({
  region: "us-east-1", endpoint: ENDPOINT, maxAttempts: 1,
  credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" },
});
const send = (c) => client.send(c);
const step = (s) => console.log("ok:", s);
const payload = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());

async function expectError(p, name, message) {
  try {
    await p;
  } catch (err) {
    assert.equal(err.name, name, `want ${name}, got ${err.name}: ${err.message}`);
    if (message !== undefined) assert.equal(err.message, message);
    assert.equal(err.$metadata.httpStatusCode, 400);
    return err;
  }
  assert.fail(`want ${name}, got success`);
}
const mailCode = async (to, n) => {
  const r = await fetch(`${BRIDGE}/mail?to=${encodeURIComponent(to)}&n=${n}`);
  assert.equal(r.status, 200);
  return r.text();
};
// The authenticator of login answers navigator.credentials.get(options).
const passkey = async (login, options) => {
  const r = await fetch(`${BRIDGE}/passkey?user=${encodeURIComponent(login)}`, { method: "POST", body: options });
  assert.equal(r.status, 200, await r.clone().text());
  return r.text();
};

const userAuth = (login, params = {}) => send(new InitiateAuthCommand({
  ClientId: CLIENT, AuthFlow: "USER_AUTH", AuthParameters: { USERNAME: login, ...params },
}));
const respond = (name, session, responses) => send(new RespondToAuthChallengeCommand({
  ClientId: CLIENT, ChallengeName: name, Session: session, ChallengeResponses: responses,
}));
const signedIn = async (out, login) => {
  assert.ok(out.AuthenticationResult, `tokens for ${login}: ${JSON.stringify(out)}`);
  const me = await send(new GetUserCommand({ AccessToken: out.AuthenticationResult.AccessToken }));
  assert.equal(me.UserAttributes.find((a) => a.Name === "email").Value, login);
  return payload(out.AuthenticationResult.IdToken);
};
const all = ["PASSWORD", "PASSWORD_SRP", "EMAIL_OTP", "WEB_AUTHN"];

// No preference: SELECT_CHALLENGE with the pool's choices.
let out = await userAuth("cy@example.com");
assert.equal(out.ChallengeName, "SELECT_CHALLENGE");
assert.deepEqual(out.AvailableChallenges, all);
assert.ok(out.Session);
assert.equal(out.ChallengeParameters.USERNAME, "cy@example.com");
step("InitiateAuth USER_AUTH: SELECT_CHALLENGE, AvailableChallenges " + out.AvailableChallenges.join(" "));

// SELECT_CHALLENGE PASSWORD with the password: tokens.
let id = await signedIn(await respond("SELECT_CHALLENGE", out.Session, { USERNAME: "cy@example.com", ANSWER: "PASSWORD", PASSWORD }), "cy@example.com");
assert.deepEqual(id.amr, ["pwd"]);
step("SELECT_CHALLENGE ANSWER=PASSWORD: tokens, amr pwd");

// A wrong password: Cognito's NotAuthorizedException; the session is spent.
out = await userAuth("cy@example.com");
await expectError(respond("SELECT_CHALLENGE", out.Session, { USERNAME: "cy@example.com", ANSWER: "PASSWORD", PASSWORD: "not it at all 1" }),
  "NotAuthorizedException", "Incorrect username or password.");
await expectError(respond("SELECT_CHALLENGE", out.Session, { USERNAME: "cy@example.com", ANSWER: "PASSWORD", PASSWORD }),
  "NotAuthorizedException");
step("SELECT_CHALLENGE wrong password: NotAuthorizedException; the Session answers once");

// Documented errors of the choice.
out = await userAuth("cy@example.com");
await expectError(respond("SELECT_CHALLENGE", out.Session, { USERNAME: "cy@example.com", ANSWER: "PASSWORD" }), "InvalidParameterException");
await expectError(respond("SELECT_CHALLENGE", out.Session, { USERNAME: "cy@example.com", ANSWER: "SMS_OTP" }), "InvalidParameterException");
await expectError(respond("SELECT_CHALLENGE", out.Session, { USERNAME: "cy@example.com" }), "InvalidParameterException");
await expectError(userAuth("cy@example.com", { PREFERRED_CHALLENGE: "PASSWORD" }), "InvalidParameterException");
await expectError(userAuth("cy@example.com", { PREFERRED_CHALLENGE: "TELEPATHY" }), "InvalidParameterException");
await expectError(send(new InitiateAuthCommand({ ClientId: CLIENT, AuthFlow: "USER_AUTH", AuthParameters: {} })), "InvalidParameterException");
step("missing PASSWORD, SMS_OTP, no ANSWER, unknown PREFERRED_CHALLENGE, no USERNAME: InvalidParameterException");

// PREFERRED_CHALLENGE PASSWORD with the password: tokens at once.
await signedIn(await userAuth("cy@example.com", { PREFERRED_CHALLENGE: "PASSWORD", PASSWORD }), "cy@example.com");
// A preference the pool does not offer: the choices instead.
out = await userAuth("cy@example.com", { PREFERRED_CHALLENGE: "SMS_OTP" });
assert.equal(out.ChallengeName, "SELECT_CHALLENGE");
assert.deepEqual(out.AvailableChallenges, all);
step("PREFERRED_CHALLENGE PASSWORD: tokens; SMS_OTP (not offered): SELECT_CHALLENGE");

// PASSWORD_SRP: chosen, then preferred; PASSWORD_VERIFIER answered as
// amazon-cognito-identity-js answers it.
const poolName = POOL_ID.split("_")[1];
async function srpAnswer(challenge, helper) {
  const p = challenge.ChallengeParameters;
  const hkdf = await new Promise((res, rej) => helper.getPasswordAuthenticationKey(
    p.USER_ID_FOR_SRP, PASSWORD, bigInt(p.SRP_B), bigInt(p.SALT),
    (err, key) => (err ? rej(err) : res(key))));
  const now = new DateHelper().getNowString();
  const sig = crypto.createHmac("sha256", Buffer.from(hkdf)).update(Buffer.concat([
    Buffer.from(poolName), Buffer.from(p.USER_ID_FOR_SRP), Buffer.from(p.SECRET_BLOCK, "base64"), Buffer.from(now),
  ])).digest("base64");
  return respond("PASSWORD_VERIFIER", challenge.Session, {
    USERNAME: p.USER_ID_FOR_SRP, PASSWORD_CLAIM_SECRET_BLOCK: p.SECRET_BLOCK, TIMESTAMP: now, PASSWORD_CLAIM_SIGNATURE: sig,
  });
}
// AuthenticationHelper takes and gives its own BigInteger; make one from hex.
const BigIntegerOf = (() => {
  const h = new AuthenticationHelper(poolName);
  return h.N.constructor;
})();
function bigInt(hex) { return new BigIntegerOf(hex, 16); }
const largeA = async (helper) => new Promise((res, rej) => helper.getLargeAValue((err, a) => (err ? rej(err) : res(a.toString(16)))));

let helper = new AuthenticationHelper(poolName);
out = await userAuth("cy@example.com");
let verifier = await respond("SELECT_CHALLENGE", out.Session, { USERNAME: "cy@example.com", ANSWER: "PASSWORD_SRP", SRP_A: await largeA(helper) });
assert.equal(verifier.ChallengeName, "PASSWORD_VERIFIER");
for (const k of ["SALT", "SRP_B", "SECRET_BLOCK", "USER_ID_FOR_SRP", "USERNAME"]) assert.ok(verifier.ChallengeParameters[k], k);
await signedIn(await srpAnswer(verifier, helper), "cy@example.com");
helper = new AuthenticationHelper(poolName);
verifier = await userAuth("cy@example.com", { PREFERRED_CHALLENGE: "PASSWORD_SRP", SRP_A: await largeA(helper) });
assert.equal(verifier.ChallengeName, "PASSWORD_VERIFIER");
await signedIn(await srpAnswer(verifier, helper), "cy@example.com");
step("PASSWORD_SRP chosen and preferred: PASSWORD_VERIFIER, then tokens");

// EMAIL_OTP: the code mailed (after the answer), a wrong code refused,
// the right one signs in; amr otp, and no second factor is asked.
out = await userAuth("cy@example.com");
let otp = await respond("SELECT_CHALLENGE", out.Session, { USERNAME: "cy@example.com", ANSWER: "EMAIL_OTP" });
assert.equal(otp.ChallengeName, "EMAIL_OTP");
assert.equal(otp.ChallengeParameters.CODE_DELIVERY_DELIVERY_MEDIUM, "EMAIL");
assert.equal(otp.ChallengeParameters.CODE_DELIVERY_DESTINATION, "c•••@example.com");
let code = await mailCode("cy@example.com", 1);
await expectError(respond("EMAIL_OTP", otp.Session, { USERNAME: "cy@example.com", EMAIL_OTP_CODE: code === "000000" ? "111111" : "000000" }),
  "CodeMismatchException");
id = await signedIn(await respond("EMAIL_OTP", otp.Session, { USERNAME: "cy@example.com", EMAIL_OTP_CODE: code }), "cy@example.com");
assert.deepEqual(id.amr, ["otp"]);
await expectError(respond("EMAIL_OTP", otp.Session, { USERNAME: "cy@example.com", EMAIL_OTP_CODE: code }), "NotAuthorizedException");
step("SELECT_CHALLENGE EMAIL_OTP: CODE_DELIVERY_*, wrong code CodeMismatchException, right code tokens (amr otp), then spent");

// PREFERRED_CHALLENGE EMAIL_OTP, for a passwordless account.
otp = await userAuth("pat@example.com", { PREFERRED_CHALLENGE: "EMAIL_OTP" });
assert.equal(otp.ChallengeName, "EMAIL_OTP");
code = await mailCode("pat@example.com", 1);
await signedIn(await respond("EMAIL_OTP", otp.Session, { USERNAME: "pat@example.com", EMAIL_OTP_CODE: code }), "pat@example.com");
step("PREFERRED_CHALLENGE EMAIL_OTP: a passwordless account signs in with the mailed code");

// WEB_AUTHN: the options as a browser's navigator.credentials.get takes
// them, the authenticator's CREDENTIAL; a passkey sign-in is MFA-grade.
out = await userAuth("ada@example.com");
let wa = await respond("SELECT_CHALLENGE", out.Session, { USERNAME: "ada@example.com", ANSWER: "WEB_AUTHN" });
assert.equal(wa.ChallengeName, "WEB_AUTHN");
const options = JSON.parse(wa.ChallengeParameters.CREDENTIAL_REQUEST_OPTIONS);
assert.equal(options.rpId, "app.example.test");
assert.equal(options.userVerification, "required");
assert.ok(Buffer.from(options.challenge, "base64url").length >= 16);
let credential = await passkey("ada@example.com", wa.ChallengeParameters.CREDENTIAL_REQUEST_OPTIONS);
id = await signedIn(await respond("WEB_AUTHN", wa.Session, { USERNAME: "ada@example.com", CREDENTIAL: credential }), "ada@example.com");
assert.deepEqual(id.amr, ["hwk", "mfa"]);
assert.equal(id.sub, SUB_ADA);
await expectError(respond("WEB_AUTHN", wa.Session, { USERNAME: "ada@example.com", CREDENTIAL: credential }), "NotAuthorizedException");
step("SELECT_CHALLENGE WEB_AUTHN: CREDENTIAL_REQUEST_OPTIONS, CREDENTIAL, tokens (amr hwk mfa); replay refused");

wa = await userAuth("ada@example.com", { PREFERRED_CHALLENGE: "WEB_AUTHN" });
assert.equal(wa.ChallengeName, "WEB_AUTHN");
await expectError(respond("WEB_AUTHN", wa.Session, { USERNAME: "ada@example.com" }), "InvalidParameterException");
await expectError(respond("WEB_AUTHN", wa.Session, {
  USERNAME: "ada@example.com", CREDENTIAL: await passkey("bob@example.com", wa.ChallengeParameters.CREDENTIAL_REQUEST_OPTIONS),
}), "NotAuthorizedException", "The passkey was not accepted.");
await expectError(respond("WEB_AUTHN", wa.Session, { USERNAME: "ada@example.com", CREDENTIAL: "{not json" }), "NotAuthorizedException");
credential = await passkey("ada@example.com", wa.ChallengeParameters.CREDENTIAL_REQUEST_OPTIONS);
await signedIn(await respond("WEB_AUTHN", wa.Session, { USERNAME: "ada@example.com", CREDENTIAL: credential }), "ada@example.com");
step("PREFERRED_CHALLENGE WEB_AUTHN: no CREDENTIAL InvalidParameterException, bob's passkey and junk NotAuthorizedException, ada's tokens");

// Unknown and passwordless logins get what a known one gets.
for (const login of ["nobody@example.com", "pat@example.com"]) {
  out = await userAuth(login);
  assert.equal(out.ChallengeName, "SELECT_CHALLENGE");
  assert.deepEqual(out.AvailableChallenges, all);
  await expectError(respond("SELECT_CHALLENGE", out.Session, { USERNAME: login, ANSWER: "PASSWORD", PASSWORD }),
    "NotAuthorizedException", "Incorrect username or password.");
  wa = await userAuth(login, { PREFERRED_CHALLENGE: "WEB_AUTHN" });
  assert.equal(wa.ChallengeName, "WEB_AUTHN");
  assert.deepEqual(Object.keys(JSON.parse(wa.ChallengeParameters.CREDENTIAL_REQUEST_OPTIONS)).sort(), Object.keys(options).sort());
}
step("unknown and passwordless logins: the same SELECT_CHALLENGE, the same refusal, the same passkey options");

// The passkey actions: cy (who has none) registers one with a fresh
// sign-in's access token, lists it, signs in with it, and deletes it.
const cyTokens = (await userAuth("cy@example.com", { PREFERRED_CHALLENGE: "PASSWORD", PASSWORD })).AuthenticationResult;
const started = await send(new StartWebAuthnRegistrationCommand({ AccessToken: cyTokens.AccessToken }));
const creation = started.CredentialCreationOptions;
assert.equal(creation.rp.id, "app.example.test");
assert.ok(creation.challenge && creation.user.id);
const r = await fetch(`${BRIDGE}/passkey/create?user=cy@example.com`, { method: "POST", body: JSON.stringify(creation) });
assert.equal(r.status, 200, await r.clone().text());
const attestation = await r.json();
await send(new CompleteWebAuthnRegistrationCommand({ AccessToken: cyTokens.AccessToken, Credential: attestation }));
await expectError(send(new CompleteWebAuthnRegistrationCommand({ AccessToken: cyTokens.AccessToken, Credential: attestation })),
  "WebAuthnCredentialNotSupportedException");
// Another user's access token cannot finish cy's ceremony.
const adaTokens = (await userAuth("ada@example.com", { PREFERRED_CHALLENGE: "WEB_AUTHN" }));
const adaIn = await respond("WEB_AUTHN", adaTokens.Session, {
  USERNAME: "ada@example.com", CREDENTIAL: await passkey("ada@example.com", adaTokens.ChallengeParameters.CREDENTIAL_REQUEST_OPTIONS),
});
await expectError(send(new CompleteWebAuthnRegistrationCommand({ AccessToken: adaIn.AuthenticationResult.AccessToken, Credential: attestation })),
  "WebAuthnChallengeNotFoundException");
let listed = await send(new ListWebAuthnCredentialsCommand({ AccessToken: cyTokens.AccessToken }));
assert.equal(listed.Credentials.length, 1);
const cred = listed.Credentials[0];
assert.equal(cred.RelyingPartyId, "app.example.test");
assert.equal(cred.CredentialId, attestation.id);
assert.ok(cred.CreatedAt instanceof Date && Math.abs(cred.CreatedAt - Date.now()) < 60000);
step("StartWebAuthnRegistration, CompleteWebAuthnRegistration (twice: refused; with another user's token: refused), ListWebAuthnCredentials");
wa = await userAuth("cy@example.com", { PREFERRED_CHALLENGE: "WEB_AUTHN" });
id = await signedIn(await respond("WEB_AUTHN", wa.Session, {
  USERNAME: "cy@example.com", CREDENTIAL: await passkey("cy@example.com", wa.ChallengeParameters.CREDENTIAL_REQUEST_OPTIONS),
}), "cy@example.com");
assert.deepEqual(id.amr, ["hwk", "mfa"]);
await expectError(send(new DeleteWebAuthnCredentialCommand({ AccessToken: adaIn.AuthenticationResult.AccessToken, CredentialId: cred.CredentialId })),
  "ResourceNotFoundException");
await send(new DeleteWebAuthnCredentialCommand({ AccessToken: cyTokens.AccessToken, CredentialId: cred.CredentialId }));
listed = await send(new ListWebAuthnCredentialsCommand({ AccessToken: cyTokens.AccessToken }));
assert.deepEqual(listed.Credentials, []);
wa = await userAuth("cy@example.com", { PREFERRED_CHALLENGE: "WEB_AUTHN" });
await expectError(respond("WEB_AUTHN", wa.Session, {
  USERNAME: "cy@example.com", CREDENTIAL: await passkey("cy@example.com", wa.ChallengeParameters.CREDENTIAL_REQUEST_OPTIONS),
}), "NotAuthorizedException", "The passkey was not accepted.");
step("the new passkey signs in; DeleteWebAuthnCredential (another user's token: ResourceNotFoundException); then it no longer does");

console.log("ALL OK");
