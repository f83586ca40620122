// The AWS SDK for JavaScript v3's Cognito client against a pool with a
// custom SMS sender (cognito/sms_e2e_test.go TestAWSSDKSMS starts it):
// phone_number verification, SMS as a second factor chosen with
// SetUserMFAPreference, a sign-in answering SMS_MFA, and a changed number.
// Texts come from the test's stand-in gateway (a real HTTP receiver behind
// the custom_sms_sender trigger) through the bridge.
import assert from "node:assert/strict";
import {
  CognitoIdentityProviderClient,
  SignUpCommand, ConfirmSignUpCommand, InitiateAuthCommand, RespondToAuthChallengeCommand,
  GetUserCommand, GetUserAttributeVerificationCodeCommand, VerifyUserAttributeCommand,
  SetUserMFAPreferenceCommand, UpdateUserAttributesCommand,
} from "@aws-sdk/client-cognito-identity-provider";

const { ENDPOINT, BRIDGE, PUBLIC_CLIENT } = process.env;
const client = new CognitoIdentityProviderClient({
  region: "us-east-1",
  endpoint: ENDPOINT,
  credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" },
  maxAttempts: 1,
});
const send = (c) => client.send(c);
const step = (s) => console.log("ok:", s);
async function expectError(p, name) {
  try {
    await p;
  } catch (err) {
    assert.equal(err.name, name, `want ${name}, got ${err.name}: ${err.message}`);
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
const smsCode = (to, n) => bridge(`/sms?to=${encodeURIComponent(to)}&n=${n}`);
const attr = (u, name) => u.UserAttributes.find((a) => a.Name === name)?.Value;

const email = `ada-${Date.now()}@example.com`;
const phone = "+15555550100";
const password = "correct horse battery staple 1";

await send(new SignUpCommand({
  ClientId: PUBLIC_CLIENT, Username: email, Password: password,
  UserAttributes: [{ Name: "email", Value: email }, { Name: "phone_number", Value: phone }],
}));
await send(new ConfirmSignUpCommand({ ClientId: PUBLIC_CLIENT, Username: email, ConfirmationCode: await mailCode(email, 1) }));
const signIn = () => send(new InitiateAuthCommand({
  ClientId: PUBLIC_CLIENT, AuthFlow: "USER_PASSWORD_AUTH", AuthParameters: { USERNAME: email, PASSWORD: password },
}));
let auth = await signIn();
let token = auth.AuthenticationResult.AccessToken;
step("signed up with a phone number, signed in");

let u = await send(new GetUserCommand({ AccessToken: token }));
assert.equal(attr(u, "phone_number"), phone);
assert.notEqual(attr(u, "phone_number_verified"), "true");
await expectError(send(new SetUserMFAPreferenceCommand({ AccessToken: token, SMSMfaSettings: { Enabled: true } })),
  "InvalidParameterException");
step("an unverified number cannot take SMS codes");

const sent = await send(new GetUserAttributeVerificationCodeCommand({ AccessToken: token, AttributeName: "phone_number" }));
assert.deepEqual(sent.CodeDeliveryDetails, { AttributeName: "phone_number", DeliveryMedium: "SMS", Destination: "+*******0100" });
const code = await smsCode(phone, 1);
await expectError(send(new VerifyUserAttributeCommand({ AccessToken: token, AttributeName: "phone_number", Code: code === "000000" ? "000001" : "000000" })),
  "CodeMismatchException");
await send(new VerifyUserAttributeCommand({ AccessToken: token, AttributeName: "phone_number", Code: code }));
u = await send(new GetUserCommand({ AccessToken: token }));
assert.equal(attr(u, "phone_number_verified"), "true");
step("GetUserAttributeVerificationCode / VerifyUserAttribute phone_number");

await expectError(send(new UpdateUserAttributesCommand({ AccessToken: token, UserAttributes: [{ Name: "phone_number_verified", Value: "true" }] })),
  "InvalidParameterException");
await send(new SetUserMFAPreferenceCommand({ AccessToken: token, SMSMfaSettings: { Enabled: true, PreferredMfa: true } }));
u = await send(new GetUserCommand({ AccessToken: token }));
assert.deepEqual(u.UserMFASettingList, ["SMS_MFA"]);
assert.equal(u.PreferredMfaSetting, "SMS_MFA");
step("SetUserMFAPreference SMSMfaSettings; GetUser lists SMS_MFA");

auth = await signIn();
assert.equal(auth.ChallengeName, "SMS_MFA");
assert.equal(auth.ChallengeParameters.CODE_DELIVERY_DELIVERY_MEDIUM, "SMS");
assert.equal(auth.ChallengeParameters.CODE_DELIVERY_DESTINATION, "+*******0100");
const mfa = await smsCode(phone, 2);
await expectError(send(new RespondToAuthChallengeCommand({
  ClientId: PUBLIC_CLIENT, ChallengeName: "SMS_MFA", Session: auth.Session,
  ChallengeResponses: { USERNAME: email, SMS_MFA_CODE: mfa === "000000" ? "000001" : "000000" },
})), "CodeMismatchException");
const done = await send(new RespondToAuthChallengeCommand({
  ClientId: PUBLIC_CLIENT, ChallengeName: "SMS_MFA", Session: auth.Session,
  ChallengeResponses: { USERNAME: email, SMS_MFA_CODE: mfa },
}));
assert.ok(done.AuthenticationResult?.AccessToken);
token = done.AuthenticationResult.AccessToken;
step("sign-in with SMS_MFA (a wrong code refused, the right one accepted)");

const up = await send(new UpdateUserAttributesCommand({ AccessToken: token, UserAttributes: [{ Name: "phone_number", Value: "+15555550199" }] }));
assert.deepEqual(up.CodeDeliveryDetailsList, [{ AttributeName: "phone_number", DeliveryMedium: "SMS", Destination: "+*******0199" }]);
await smsCode("+15555550199", 1);
u = await send(new GetUserCommand({ AccessToken: token }));
assert.notEqual(attr(u, "phone_number_verified"), "true");
assert.equal(u.UserMFASettingList, undefined);
auth = await signIn();
assert.ok(auth.AuthenticationResult, "no second factor after the number changed");
step("a new number: a code sent to it, unverified, SMS codes off");

console.log("ALL OK");
