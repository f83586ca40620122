// Amplify v6 (aws-amplify, npm) signing in with choice-based sign-in
// (USER_AUTH) against Gatehouse behind a real Caddy
// (cognito/userauth_e2e_test.go TestAmplifyUserAuth): with no preference
// (Amplify asks which factor: CONTINUE_SIGN_IN_WITH_FIRST_FACTOR_SELECTION),
// then the password over SRP, and an emailed code. Only the endpoint
// differs from an app on Cognito. Exits non-zero on the first failure.
import assert from "node:assert/strict";
import { Amplify } from "aws-amplify";
import { signIn, confirmSignIn, signOut, fetchAuthSession } from "aws-amplify/auth";

const { ENDPOINT, BRIDGE, POOL_ID, CLIENT, PASSWORD } = process.env;
Amplify.configure({
  Auth: { Cognito: { userPoolId: POOL_ID, userPoolClientId: CLIENT, userPoolEndpoint: ENDPOINT, loginWith: { email: true } } },
});
const step = (s) => console.log("ok:", s);
const mailCode = async (to, n) => {
  const r = await fetch(`${BRIDGE}/mail?to=${encodeURIComponent(to)}&n=${n}`);
  assert.equal(r.status, 200);
  return r.text();
};
const payload = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());
const signedInAs = async (login) => {
  const { tokens } = await fetchAuthSession();
  assert.ok(tokens?.idToken, "tokens");
  const id = payload(tokens.idToken.toString());
  assert.equal(id.email, login);
  return id;
};

// No preference: Amplify shows the choices, the app picks the password
// (Amplify answers SELECT_CHALLENGE with PASSWORD_SRP and runs SRP).
let out = await signIn({ username: "cy@example.com", options: { authFlowType: "USER_AUTH" } });
assert.equal(out.nextStep.signInStep, "CONTINUE_SIGN_IN_WITH_FIRST_FACTOR_SELECTION", JSON.stringify(out));
assert.deepEqual(out.nextStep.availableChallenges, ["PASSWORD", "PASSWORD_SRP", "EMAIL_OTP", "WEB_AUTHN"]);
out = await confirmSignIn({ challengeResponse: "PASSWORD_SRP" });
assert.equal(out.nextStep.signInStep, "CONFIRM_SIGN_IN_WITH_PASSWORD", JSON.stringify(out));
out = await confirmSignIn({ challengeResponse: PASSWORD });
assert.equal(out.isSignedIn, true, JSON.stringify(out));
assert.deepEqual((await signedInAs("cy@example.com")).amr, ["pwd"]);
await signOut();
step("signIn USER_AUTH: first-factor selection, PASSWORD_SRP, then the password (SRP)");

// preferredChallenge EMAIL_OTP: the code mailed, confirmSignIn with it.
out = await signIn({ username: "cy@example.com", options: { authFlowType: "USER_AUTH", preferredChallenge: "EMAIL_OTP" } });
assert.equal(out.nextStep.signInStep, "CONFIRM_SIGN_IN_WITH_EMAIL_CODE", JSON.stringify(out));
assert.equal(out.nextStep.codeDeliveryDetails.deliveryMedium, "EMAIL");
out = await confirmSignIn({ challengeResponse: await mailCode("cy@example.com", 1) });
assert.equal(out.isSignedIn, true, JSON.stringify(out));
assert.deepEqual((await signedInAs("cy@example.com")).amr, ["otp"]);
await signOut();
step("signIn USER_AUTH preferredChallenge EMAIL_OTP: the mailed code signs in (amr otp)");

// preferredChallenge PASSWORD_SRP with the password: straight through.
out = await signIn({ username: "cy@example.com", password: PASSWORD, options: { authFlowType: "USER_AUTH", preferredChallenge: "PASSWORD_SRP" } });
assert.equal(out.isSignedIn, true, JSON.stringify(out));
await signedInAs("cy@example.com");
await signOut();
step("signIn USER_AUTH preferredChallenge PASSWORD_SRP");

// A wrong password, chosen from the selection: Cognito's error.
out = await signIn({ username: "nobody@example.com", options: { authFlowType: "USER_AUTH" } });
assert.equal(out.nextStep.signInStep, "CONTINUE_SIGN_IN_WITH_FIRST_FACTOR_SELECTION");
await confirmSignIn({ challengeResponse: "PASSWORD" });
await assert.rejects(confirmSignIn({ challengeResponse: "wrong password 1" }), (err) => err.name === "NotAuthorizedException");
step("an unknown login gets the same selection, and NotAuthorizedException for a password");

console.log("ALL OK");
