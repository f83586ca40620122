// Amplify v6 (npm aws-amplify) in Node, configured as a Cognito app moved to
// Gatehouse changes it: Auth.Cognito.userPoolEndpoint and nothing else
// (cognito/amplify_e2e_test.go TestAmplifyNode). Amplify signs in with its
// default, USER_SRP_AUTH. Exits non-zero on the first failure; prints
// "ALL OK" at the end.
import assert from "node:assert/strict";
import { Amplify } from "aws-amplify";
import {
  autoSignIn, confirmResetPassword, confirmSignIn, confirmSignUp, fetchAuthSession, fetchUserAttributes,
  getCurrentUser, resetPassword, setUpTOTP, signIn, signOut, signUp, updateMFAPreference, verifyTOTPSetup,
} from "aws-amplify/auth";

const { ENDPOINT, BRIDGE, POOL_ID, SRP_CLIENT } = process.env;
Amplify.configure({
  Auth: { Cognito: { userPoolId: POOL_ID, userPoolClientId: SRP_CLIENT, userPoolEndpoint: ENDPOINT } },
});
const step = (s) => console.log("ok:", s);
const bridge = async (path) => {
  const r = await fetch(BRIDGE + path);
  assert.equal(r.status, 200, `bridge ${path}`);
  return r.text();
};
// mailCode waits for the next mail to address and returns its code.
const mailCode = async (address, n) => bridge(`/mail?to=${encodeURIComponent(address)}&n=${n}`);
// getUser calls GetUser with token as Amplify's own calls do, for what
// Amplify cannot be asked: whether a token it dropped still works.
const getUser = async (token) => {
  const r = await fetch(ENDPOINT + "/", {
    method: "POST",
    headers: { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSCognitoIdentityProviderService.GetUser" },
    body: JSON.stringify({ AccessToken: token }),
  });
  return { status: r.status, body: await r.json() };
};
// refused returns the error fn throws, or fails when it does not.
const refused = async (fn) => {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  assert.fail("no error");
};

const email = `amy-${Date.now()}@example.com`;
let password = "correct horse battery staple 6";

// signUp and confirmSignUp with the mailed code.
const up = await signUp({ username: email, password, options: { userAttributes: { email }, autoSignIn: true } });
assert.equal(up.isSignUpComplete, false);
assert.equal(up.nextStep.signUpStep, "CONFIRM_SIGN_UP");
assert.equal(up.nextStep.codeDeliveryDetails.deliveryMedium, "EMAIL");
assert.ok(up.userId, "signUp returned no userId (UserSub)");
const confirmed = await confirmSignUp({ username: email, confirmationCode: await mailCode(email, 1) });
assert.equal(confirmed.isSignUpComplete, true);
assert.equal(confirmed.nextStep.signUpStep, "COMPLETE_AUTO_SIGN_IN");
const auto = await autoSignIn();
assert.equal(auto.isSignedIn, true, JSON.stringify(auto));
assert.equal((await fetchAuthSession()).tokens.idToken.payload.email, email);
await signOut();
step("signUp, confirmSignUp with the mailed code, autoSignIn");

// A wrong password first: Amplify surfaces the API's error name.
const wrong = await refused(() => signIn({ username: email, password: "wrong horse battery staple 6" }));
assert.equal(wrong.name, "NotAuthorizedException", String(wrong));
assert.equal(wrong.message, "Incorrect username or password.");
step("signIn with a wrong password: NotAuthorizedException");

// signIn: Amplify's default flow is USER_SRP_AUTH (PASSWORD_VERIFIER).
let res = await signIn({ username: email, password });
assert.equal(res.isSignedIn, true, JSON.stringify(res));
assert.equal(res.nextStep.signInStep, "DONE");
const current = await getCurrentUser();
assert.equal(current.userId, up.userId);
assert.equal(current.signInDetails.authFlowType, "USER_SRP_AUTH");
let session = await fetchAuthSession();
assert.equal(session.tokens.idToken.payload.email, email);
assert.equal(session.tokens.idToken.payload.sub, up.userId);
assert.equal(session.tokens.accessToken.payload.client_id, SRP_CLIENT);
assert.deepEqual(session.tokens.idToken.payload.amr, ["pwd"]);
const attrs = await fetchUserAttributes();
assert.equal(attrs.email, email);
assert.equal(attrs.email_verified, "true");
step("signIn (USER_SRP_AUTH), getCurrentUser, fetchAuthSession, fetchUserAttributes");

// forceRefresh: REFRESH_TOKEN_AUTH; rotation off, Amplify keeps its token.
const refreshed = await fetchAuthSession({ forceRefresh: true });
assert.notEqual(refreshed.tokens.accessToken.toString(), session.tokens.accessToken.toString());
assert.equal(refreshed.tokens.idToken.payload.origin_jti, session.tokens.idToken.payload.origin_jti);
step("fetchAuthSession({ forceRefresh: true })");

// resetPassword / confirmResetPassword, then the new password signs in
// (with SRP: the reset made a new verifier).
await signOut();
assert.equal((await fetchAuthSession()).tokens, undefined, "tokens after a local signOut");
const reset = await resetPassword({ username: email });
assert.equal(reset.nextStep.resetPasswordStep, "CONFIRM_RESET_PASSWORD_WITH_CODE");
assert.equal(reset.nextStep.codeDeliveryDetails.deliveryMedium, "EMAIL");
const oldPassword = password;
password = "a brand new battery staple 7";
await confirmResetPassword({ username: email, confirmationCode: await mailCode(email, 2), newPassword: password });
const old = await refused(() => signIn({ username: email, password: oldPassword }));
assert.equal(old.name, "NotAuthorizedException", String(old));
res = await signIn({ username: email, password });
assert.equal(res.isSignedIn, true, JSON.stringify(res));
step("signOut, resetPassword, confirmResetPassword: the old password refused, the new one signs in");

// setUpTOTP / verifyTOTPSetup, then TOTP preferred.
const totp = await setUpTOTP();
assert.match(totp.sharedSecret, /^[A-Z2-7]+=*$/);
assert.ok(totp.getSetupUri("Gatehouse").href.startsWith("otpauth://totp/"));
await verifyTOTPSetup({ code: await bridge(`/totp?secret=${totp.sharedSecret}&steps=0`) });
await updateMFAPreference({ totp: "PREFERRED" });
step("setUpTOTP, verifyTOTPSetup, updateMFAPreference");

await signOut();
res = await signIn({ username: email, password });
assert.equal(res.isSignedIn, false);
assert.equal(res.nextStep.signInStep, "CONFIRM_SIGN_IN_WITH_TOTP_CODE", JSON.stringify(res.nextStep));
const badCode = await refused(() => confirmSignIn({ challengeResponse: "000000" }));
assert.equal(badCode.name, "CodeMismatchException", String(badCode));
res = await confirmSignIn({ challengeResponse: await bridge(`/totp?secret=${totp.sharedSecret}&steps=1`) });
assert.equal(res.isSignedIn, true, JSON.stringify(res));
session = await fetchAuthSession();
assert.deepEqual([...session.tokens.idToken.payload.amr].sort(), ["mfa", "otp", "pwd"]);
step("signOut, signIn asks for the TOTP code, a wrong code refused, confirmSignIn");

// signOut({ global: true }): GlobalSignOut, then the tokens are refused.
session = await fetchAuthSession();
const access = session.tokens.accessToken.toString();
assert.equal((await getUser(access)).status, 200);
await signOut({ global: true });
const after = await getUser(access);
assert.equal(after.status, 400);
assert.equal(after.body.__type, "NotAuthorizedException", JSON.stringify(after.body));
const gone = await fetchAuthSession();
assert.equal(gone.tokens, undefined, "Amplify still holds tokens after signOut({ global: true })");
step("signOut({ global: true }): the access token is refused afterwards");
console.log("ALL OK");
// Amplify's autoSignIn leaves a three-minute timer that would keep Node
// running.
process.exit(0);
