// The AWS SDK for JavaScript v3's Cognito client against Gatehouse's
// Cognito API (cognito/e2e_test.go TestAWSSDK starts the server). Only the
// endpoint differs from an app talking to Cognito. Codes come from the
// real SMTP server through the test's bridge. Exits non-zero on the first
// step that does not go as Cognito's would.
import crypto from "node:crypto";
import assert from "node:assert/strict";
import {
  CognitoIdentityProviderClient,
  SignUpCommand, ConfirmSignUpCommand, InitiateAuthCommand, RespondToAuthChallengeCommand,
  GetUserCommand, AssociateSoftwareTokenCommand, VerifySoftwareTokenCommand,
  SetUserMFAPreferenceCommand, GlobalSignOutCommand, ForgotPasswordCommand,
  ConfirmForgotPasswordCommand, ResendConfirmationCodeCommand, ListUserPoolsCommand,
  ChangePasswordCommand, UpdateUserAttributesCommand, RevokeTokenCommand,
} from "@aws-sdk/client-cognito-identity-provider";
import { JwtVerifier } from "aws-jwt-verify";

const { ENDPOINT, BRIDGE, PUBLIC_CLIENT, SECRET_CLIENT, CLIENT_SECRET } = process.env;
const client = new CognitoIdentityProviderClient({
  region: "us-east-1",
  endpoint: ENDPOINT,
  credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" },
  maxAttempts: 1,
});
const send = (c) => client.send(c);
const step = (s) => console.log("ok:", s);

// expectError runs p and checks the SDK surfaces the error named name.
async function expectError(p, name, message) {
  try {
    await p;
  } catch (err) {
    assert.equal(err.name, name, `want ${name}, got ${err.name}: ${err.message}`);
    if (message !== undefined) assert.equal(err.message, message);
    assert.equal(err.$metadata.httpStatusCode, 400);
    assert.ok(err.$metadata.requestId, "x-amzn-RequestId");
    return err;
  }
  assert.fail(`want ${name}, got success`);
}

const bridge = async (path) => {
  const r = await fetch(BRIDGE + path);
  assert.equal(r.status, 200, await r.clone().text());
  return r.text();
};
const mailCode = (to, n) => bridge(`/mail?to=${encodeURIComponent(to)}&n=${n}`);
const totp = (secret, steps) => bridge(`/totp?secret=${secret}&steps=${steps}`);
const secretHash = (username, clientId = SECRET_CLIENT, secret = CLIENT_SECRET) =>
  crypto.createHmac("sha256", secret).update(username + clientId).digest("base64");

const email = `ada-${Date.now()}@example.com`;
const password = "correct horse battery staple 1";
const newPassword = "another horse battery staple 2";

// Sign-up and confirmation with the mailed code.
const su = await send(new SignUpCommand({
  ClientId: PUBLIC_CLIENT, Username: email, Password: password,
  UserAttributes: [{ Name: "email", Value: email }],
}));
assert.equal(su.UserConfirmed, false);
assert.match(su.UserSub, /^[0-9a-f-]{36}$/);
assert.deepEqual(su.CodeDeliveryDetails, { AttributeName: "email", DeliveryMedium: "EMAIL", Destination: "a***@e***" });
step("SignUp");
await expectError(send(new InitiateAuthCommand({
  ClientId: PUBLIC_CLIENT, AuthFlow: "USER_PASSWORD_AUTH", AuthParameters: { USERNAME: email, PASSWORD: password },
})), "UserNotConfirmedException");
const code = await mailCode(email, 1);
await expectError(send(new ConfirmSignUpCommand({
  ClientId: PUBLIC_CLIENT, Username: email, ConfirmationCode: code === "000000" ? "111111" : "000000",
})), "CodeMismatchException");
await send(new ConfirmSignUpCommand({ ClientId: PUBLIC_CLIENT, Username: email, ConfirmationCode: code }));
step("ConfirmSignUp (wrong code: CodeMismatchException)");
await expectError(send(new SignUpCommand({ ClientId: PUBLIC_CLIENT, Username: email, Password: password })),
  "UsernameExistsException");
step("SignUp of a taken address: UsernameExistsException");

// Wrong password and unknown user read the same.
const wrong = await expectError(send(new InitiateAuthCommand({
  ClientId: PUBLIC_CLIENT, AuthFlow: "USER_PASSWORD_AUTH", AuthParameters: { USERNAME: email, PASSWORD: "wrong password 123" },
})), "NotAuthorizedException", "Incorrect username or password.");
await expectError(send(new InitiateAuthCommand({
  ClientId: PUBLIC_CLIENT, AuthFlow: "USER_PASSWORD_AUTH", AuthParameters: { USERNAME: "nobody-" + email, PASSWORD: "wrong password 123" },
})), "NotAuthorizedException", wrong.message);
step("NotAuthorizedException alike for a wrong password and an unknown user");

// Password sign-in; the tokens verify with aws-jwt-verify.
let auth = await send(new InitiateAuthCommand({
  ClientId: PUBLIC_CLIENT, AuthFlow: "USER_PASSWORD_AUTH", AuthParameters: { USERNAME: email, PASSWORD: password },
}));
let r = auth.AuthenticationResult;
assert.ok(r.AccessToken && r.IdToken && r.RefreshToken, JSON.stringify(auth));
assert.equal(r.TokenType, "Bearer");
assert.ok(r.ExpiresIn > 0);
const jwks = await (await fetch(ENDPOINT + "/.well-known/jwks.json")).json();
const idVerifier = JwtVerifier.create({ issuer: ENDPOINT, audience: PUBLIC_CLIENT });
idVerifier.cacheJwks(jwks);
const accessVerifier = JwtVerifier.create({ issuer: ENDPOINT, audience: null });
accessVerifier.cacheJwks(jwks);
const idc = await idVerifier.verify(r.IdToken);
assert.equal(idc.token_use, "id");
assert.equal(idc.email, email);
assert.equal(idc.sub, su.UserSub);
const acc = await accessVerifier.verify(r.AccessToken);
assert.equal(acc.token_use, "access");
assert.equal(acc.client_id, PUBLIC_CLIENT);
assert.ok(acc.scope.split(" ").includes("aws.cognito.signin.user.admin"), acc.scope);
step("InitiateAuth USER_PASSWORD_AUTH, tokens verified");

const me = await send(new GetUserCommand({ AccessToken: r.AccessToken }));
assert.equal(me.Username, su.UserSub);
const attrs = Object.fromEntries(me.UserAttributes.map((a) => [a.Name, a.Value]));
assert.equal(attrs.email, email);
assert.equal(attrs.email_verified, "true");
assert.equal(attrs.sub, su.UserSub);
step("GetUser");
await expectError(send(new GetUserCommand({ AccessToken: r.IdToken })), "NotAuthorizedException");
await expectError(send(new GetUserCommand({ AccessToken: r.AccessToken.slice(0, -4) + "AAAA" })), "NotAuthorizedException");
step("GetUser with an ID token or a forged token: NotAuthorizedException");
await expectError(send(new UpdateUserAttributesCommand({
  AccessToken: r.AccessToken, UserAttributes: [{ Name: "custom:nope", Value: "x" }],
})), "InvalidParameterException");
step("UpdateUserAttributes of an attribute the pool lacks: InvalidParameterException");

// An authenticator app, then a sign-in with it.
const assoc = await send(new AssociateSoftwareTokenCommand({ AccessToken: r.AccessToken }));
assert.match(assoc.SecretCode, /^[A-Z2-7]+=*$/);
await expectError(send(new VerifySoftwareTokenCommand({ AccessToken: r.AccessToken, UserCode: "000000" })),
  "EnableSoftwareTokenMFAException");
const ver = await send(new VerifySoftwareTokenCommand({
  AccessToken: r.AccessToken, UserCode: await totp(assoc.SecretCode, 0), FriendlyDeviceName: "phone",
}));
assert.equal(ver.Status, "SUCCESS");
await send(new SetUserMFAPreferenceCommand({
  AccessToken: r.AccessToken, SoftwareTokenMfaSettings: { Enabled: true, PreferredMfa: true },
}));
const me2 = await send(new GetUserCommand({ AccessToken: r.AccessToken }));
assert.deepEqual(me2.UserMFASettingList, ["SOFTWARE_TOKEN_MFA"]);
assert.equal(me2.PreferredMfaSetting, "SOFTWARE_TOKEN_MFA");
step("AssociateSoftwareToken, VerifySoftwareToken, SetUserMFAPreference");

auth = await send(new InitiateAuthCommand({
  ClientId: PUBLIC_CLIENT, AuthFlow: "USER_PASSWORD_AUTH", AuthParameters: { USERNAME: email, PASSWORD: password },
}));
assert.equal(auth.ChallengeName, "SOFTWARE_TOKEN_MFA");
assert.ok(auth.Session);
assert.equal(auth.AuthenticationResult, undefined);
await expectError(send(new RespondToAuthChallengeCommand({
  ClientId: PUBLIC_CLIENT, ChallengeName: "SOFTWARE_TOKEN_MFA", Session: auth.Session,
  ChallengeResponses: { USERNAME: email, SOFTWARE_TOKEN_MFA_CODE: "000000" },
})), "CodeMismatchException");
const mfa = await send(new RespondToAuthChallengeCommand({
  ClientId: PUBLIC_CLIENT, ChallengeName: "SOFTWARE_TOKEN_MFA", Session: auth.Session,
  ChallengeResponses: { USERNAME: email, SOFTWARE_TOKEN_MFA_CODE: await totp(assoc.SecretCode, 1) },
}));
r = mfa.AuthenticationResult;
assert.ok(r.AccessToken && r.IdToken && r.RefreshToken);
assert.deepEqual((await idVerifier.verify(r.IdToken)).amr.sort(), ["mfa", "otp", "pwd"]);
await expectError(send(new RespondToAuthChallengeCommand({
  ClientId: PUBLIC_CLIENT, ChallengeName: "SOFTWARE_TOKEN_MFA", Session: auth.Session,
  ChallengeResponses: { USERNAME: email, SOFTWARE_TOKEN_MFA_CODE: await totp(assoc.SecretCode, 1) },
})), "NotAuthorizedException");
step("sign-in with SOFTWARE_TOKEN_MFA (wrong code: CodeMismatchException; session single-use)");

// Refresh, then a global sign-out ends the access token and the refresh.
const ref = await send(new InitiateAuthCommand({
  ClientId: PUBLIC_CLIENT, AuthFlow: "REFRESH_TOKEN_AUTH", AuthParameters: { REFRESH_TOKEN: r.RefreshToken },
}));
assert.ok(ref.AuthenticationResult.AccessToken && ref.AuthenticationResult.IdToken);
await send(new GetUserCommand({ AccessToken: ref.AuthenticationResult.AccessToken }));
const nextRefresh = ref.AuthenticationResult.RefreshToken ?? r.RefreshToken;
step("InitiateAuth REFRESH_TOKEN_AUTH");
await new Promise((res) => setTimeout(res, 1100)); // the deny list counts in seconds
await send(new GlobalSignOutCommand({ AccessToken: ref.AuthenticationResult.AccessToken }));
await expectError(send(new GetUserCommand({ AccessToken: ref.AuthenticationResult.AccessToken })), "NotAuthorizedException");
await expectError(send(new InitiateAuthCommand({
  ClientId: PUBLIC_CLIENT, AuthFlow: "REFRESH_TOKEN_AUTH", AuthParameters: { REFRESH_TOKEN: nextRefresh },
})), "NotAuthorizedException");
step("GlobalSignOut: the access token and the refresh token refused");

// Password reset; an unknown user is answered alike.
const fp = await send(new ForgotPasswordCommand({ ClientId: PUBLIC_CLIENT, Username: email }));
const fpUnknown = await send(new ForgotPasswordCommand({ ClientId: PUBLIC_CLIENT, Username: "a" + email }));
assert.deepEqual(fp.CodeDeliveryDetails, { AttributeName: "email", DeliveryMedium: "EMAIL", Destination: "a***@e***" });
assert.deepEqual(fpUnknown.CodeDeliveryDetails, fp.CodeDeliveryDetails);
const resetCode = await mailCode(email, 2);
await expectError(send(new ConfirmForgotPasswordCommand({
  ClientId: PUBLIC_CLIENT, Username: email, ConfirmationCode: resetCode === "000000" ? "111111" : "000000", Password: newPassword,
})), "CodeMismatchException");
await expectError(send(new ConfirmForgotPasswordCommand({
  ClientId: PUBLIC_CLIENT, Username: "a" + email, ConfirmationCode: resetCode, Password: newPassword,
})), "CodeMismatchException");
await expectError(send(new ConfirmForgotPasswordCommand({
  ClientId: PUBLIC_CLIENT, Username: email, ConfirmationCode: resetCode, Password: "short",
})), "InvalidPasswordException");
await send(new ConfirmForgotPasswordCommand({ ClientId: PUBLIC_CLIENT, Username: email, ConfirmationCode: resetCode, Password: newPassword }));
auth = await send(new InitiateAuthCommand({
  ClientId: PUBLIC_CLIENT, AuthFlow: "USER_PASSWORD_AUTH", AuthParameters: { USERNAME: email, PASSWORD: newPassword },
}));
assert.equal(auth.ChallengeName, "SOFTWARE_TOKEN_MFA");
step("ForgotPassword (unknown user alike), ConfirmForgotPassword");
const rc = await send(new ResendConfirmationCodeCommand({ ClientId: PUBLIC_CLIENT, Username: "nobody-" + email }));
assert.equal(rc.CodeDeliveryDetails.DeliveryMedium, "EMAIL");
step("ResendConfirmationCode for an unknown user answers as for a known one");

// A client with a secret needs SECRET_HASH.
const secretAuth = (params) => send(new InitiateAuthCommand({
  ClientId: SECRET_CLIENT, AuthFlow: "USER_PASSWORD_AUTH", AuthParameters: { USERNAME: email, PASSWORD: newPassword, ...params },
}));
await expectError(secretAuth({}), "NotAuthorizedException");
await expectError(secretAuth({ SECRET_HASH: secretHash(email, SECRET_CLIENT, "not-the-secret-0123456789") }), "NotAuthorizedException");
await expectError(secretAuth({ SECRET_HASH: secretHash("other@example.com") }), "NotAuthorizedException");
assert.equal((await secretAuth({ SECRET_HASH: secretHash(email) })).ChallengeName, "SOFTWARE_TOKEN_MFA");
step("SECRET_HASH missing, wrong: NotAuthorizedException; right: accepted");

// Errors of the protocol as the SDK surfaces them.
await expectError(send(new ListUserPoolsCommand({ MaxResults: 10 })), "UnknownOperationException");
step("UnknownOperationException for an action not built");
await expectError(send(new InitiateAuthCommand({
  ClientId: PUBLIC_CLIENT, AuthFlow: "USER_PASSWORD_AUTH", AuthParameters: { USERNAME: email },
})), "InvalidParameterException");
await expectError(send(new InitiateAuthCommand({
  ClientId: "hostedonly", AuthFlow: "USER_PASSWORD_AUTH", AuthParameters: { USERNAME: email, PASSWORD: newPassword },
})), "InvalidParameterException");
await expectError(send(new InitiateAuthCommand({
  ClientId: "no-such-client", AuthFlow: "USER_PASSWORD_AUTH", AuthParameters: { USERNAME: email, PASSWORD: newPassword },
})), "ResourceNotFoundException");
await expectError(send(new InitiateAuthCommand({
  ClientId: PUBLIC_CLIENT, AuthFlow: "USER_SRP_AUTH", AuthParameters: { USERNAME: email, SRP_A: "abcd" },
})), "InvalidParameterException");
step("InvalidParameterException for bad input, a flow the client lacks, SRP not built; ResourceNotFoundException");
await expectError(send(new ChangePasswordCommand({
  AccessToken: ref.AuthenticationResult.AccessToken, PreviousPassword: password, ProposedPassword: newPassword,
})), "NotAuthorizedException");
await send(new RevokeTokenCommand({ ClientId: PUBLIC_CLIENT, Token: "not-a-token" }));
step("ChangePassword with a signed-out token refused; RevokeToken of an unknown token answered 200");
console.log("ALL OK");
