// The AWS SDK for JavaScript v3's Cognito client, with static credentials
// of an access key made by the pool, runs the admin actions against a real
// Caddy (cognito/adminapi_e2e_test.go TestAdminSDK starts it). Only the
// endpoint differs from a script run against Cognito. Exits non-zero on
// the first step that does not go as Cognito's would; prints ALL OK.
import assert from "node:assert/strict";
import {
  CognitoIdentityProviderClient,
  AdminCreateUserCommand, AdminInitiateAuthCommand, AdminRespondToAuthChallengeCommand,
  AdminGetUserCommand, AdminUpdateUserAttributesCommand, AdminDeleteUserAttributesCommand,
  AdminAddUserToGroupCommand, AdminRemoveUserFromGroupCommand, AdminListGroupsForUserCommand, CreateGroupCommand,
  AdminDisableUserCommand, AdminEnableUserCommand, AdminUserGlobalSignOutCommand,
  AdminDeleteUserCommand, AdminSetUserPasswordCommand, AdminConfirmSignUpCommand, AdminResetUserPasswordCommand,
  DescribeUserPoolCommand, DescribeUserPoolClientCommand, ListUserPoolClientsCommand,
  GetUserCommand, SignUpCommand,
} from "@aws-sdk/client-cognito-identity-provider";

const { ENDPOINT, POOL_ID, ADMIN_CLIENT, PUBLIC_CLIENT, KEY_ID, SECRET, RO_KEY_ID, RO_SECRET } = process.env;
const make = (accessKeyId, secretAccessKey) => new CognitoIdentityProviderClient({
  region: "us-east-1", endpoint: ENDPOINT, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1,
});
const admin = make(KEY_ID, SECRET);
const readOnly = make(RO_KEY_ID, RO_SECRET);
const wrongSecret = make(KEY_ID, SECRET.slice(0, -1) + (SECRET.endsWith("A") ? "B" : "A"));
const send = (c) => admin.send(c);
const step = (s) => console.log("ok:", s);

async function expectError(p, name) {
  try {
    await p;
  } catch (err) {
    assert.equal(err.name, name, `want ${name}, got ${err.name}: ${err.message}`);
    assert.equal(err.$metadata.httpStatusCode, 400);
    return err;
  }
  assert.fail(`want ${name}, got success`);
}

const attr = (attrs, name) => attrs.find((a) => a.Name === name)?.Value;
const email = `grace-${Date.now()}@example.com`;
const temporary = "Temporary horse battery 1";
const chosen = "Chosen horse battery staple 2";
const UserPoolId = POOL_ID;

// AdminCreateUser with SUPPRESS: no mail, FORCE_CHANGE_PASSWORD.
const created = await send(new AdminCreateUserCommand({
  UserPoolId, Username: email, TemporaryPassword: temporary, MessageAction: "SUPPRESS",
  DesiredDeliveryMediums: ["EMAIL"],
  UserAttributes: [{ Name: "email", Value: email }, { Name: "email_verified", Value: "true" }],
}));
assert.equal(created.User.UserStatus, "FORCE_CHANGE_PASSWORD");
assert.equal(created.User.Enabled, true);
assert.ok(created.User.UserCreateDate instanceof Date && !isNaN(created.User.UserCreateDate), "UserCreateDate is a date");
assert.ok(Math.abs(created.User.UserCreateDate - Date.now()) < 60_000, "UserCreateDate is now");
const sub = created.User.Username;
assert.equal(attr(created.User.Attributes, "sub"), sub);
assert.equal(attr(created.User.Attributes, "email"), email);
assert.equal(attr(created.User.Attributes, "email_verified"), "true");
step("AdminCreateUser SUPPRESS");
await expectError(send(new AdminCreateUserCommand({ UserPoolId, Username: email, MessageAction: "SUPPRESS" })), "UsernameExistsException");
await expectError(send(new AdminCreateUserCommand({ UserPoolId: "us-east-1_Other", Username: "x@example.com" })), "ResourceNotFoundException");
await expectError(send(new AdminCreateUserCommand({ UserPoolId, Username: "y@example.com", MessageAction: "SUPPRESS", DesiredDeliveryMediums: ["SMS"] })), "InvalidParameterException");
step("AdminCreateUser refusals");

// AdminInitiateAuth with the temporary password: NEW_PASSWORD_REQUIRED.
const auth = (password, ClientId = ADMIN_CLIENT) => send(new AdminInitiateAuthCommand({
  UserPoolId, ClientId, AuthFlow: "ADMIN_USER_PASSWORD_AUTH", AuthParameters: { USERNAME: email, PASSWORD: password },
}));
const first = await auth(temporary);
assert.equal(first.ChallengeName, "NEW_PASSWORD_REQUIRED");
assert.ok(first.Session);
const done = await send(new AdminRespondToAuthChallengeCommand({
  UserPoolId, ClientId: ADMIN_CLIENT, ChallengeName: "NEW_PASSWORD_REQUIRED", Session: first.Session,
  ChallengeResponses: { USERNAME: email, NEW_PASSWORD: chosen },
}));
assert.ok(done.AuthenticationResult.AccessToken && done.AuthenticationResult.IdToken && done.AuthenticationResult.RefreshToken);
step("AdminInitiateAuth -> NEW_PASSWORD_REQUIRED -> AdminRespondToAuthChallenge");
await expectError(auth(temporary), "NotAuthorizedException");
await expectError(auth(chosen, PUBLIC_CLIENT), "InvalidParameterException"); // no ALLOW_ADMIN_USER_PASSWORD_AUTH
step("old password and a client without the admin flow refused");

// AdminGetUser, by email and by the username (sub).
for (const Username of [email, sub]) {
  const u = await send(new AdminGetUserCommand({ UserPoolId, Username }));
  assert.equal(u.Username, sub);
  assert.equal(u.UserStatus, "CONFIRMED");
  assert.equal(u.Enabled, true);
  assert.ok(u.UserLastModifiedDate instanceof Date);
  assert.equal(attr(u.UserAttributes, "email"), email);
}
await expectError(send(new AdminGetUserCommand({ UserPoolId, Username: "nobody@example.com" })), "UserNotFoundException");
step("AdminGetUser");

// Attributes.
await send(new AdminUpdateUserAttributesCommand({ UserPoolId, Username: email, UserAttributes: [
  { Name: "name", Value: "Grace Hopper" }, { Name: "custom:team", Value: "navy" }] }));
let u = await send(new AdminGetUserCommand({ UserPoolId, Username: email }));
assert.equal(attr(u.UserAttributes, "name"), "Grace Hopper");
assert.equal(attr(u.UserAttributes, "custom:team"), "navy");
await send(new AdminDeleteUserAttributesCommand({ UserPoolId, Username: email, UserAttributeNames: ["custom:team"] }));
u = await send(new AdminGetUserCommand({ UserPoolId, Username: email }));
assert.equal(attr(u.UserAttributes, "custom:team"), undefined);
await expectError(send(new AdminUpdateUserAttributesCommand({ UserPoolId, Username: email, UserAttributes: [{ Name: "custom:nope", Value: "x" }] })), "InvalidParameterException");
const other = `other-${Date.now()}@example.com`;
await send(new AdminCreateUserCommand({ UserPoolId, Username: other, MessageAction: "SUPPRESS" }));
await expectError(send(new AdminUpdateUserAttributesCommand({ UserPoolId, Username: other, UserAttributes: [{ Name: "email", Value: email }] })), "AliasExistsException");
await expectError(send(new AdminUpdateUserAttributesCommand({ UserPoolId, Username: email, UserAttributes: [{ Name: "sub", Value: "x" }] })), "InvalidParameterException");
await expectError(send(new AdminDeleteUserAttributesCommand({ UserPoolId, Username: email, UserAttributeNames: ["email"] })), "InvalidParameterException");
step("AdminUpdateUserAttributes");

// Groups: only a group that exists (Cognito's ResourceNotFoundException).
await expectError(send(new AdminAddUserToGroupCommand({ UserPoolId, Username: sub, GroupName: "admins" })), "ResourceNotFoundException");
await send(new CreateGroupCommand({ UserPoolId, GroupName: "admins" }));
await send(new AdminAddUserToGroupCommand({ UserPoolId, Username: email, GroupName: "editors" }));
await send(new AdminAddUserToGroupCommand({ UserPoolId, Username: sub, GroupName: "admins" }));
let groups = await send(new AdminListGroupsForUserCommand({ UserPoolId, Username: email }));
assert.deepEqual(groups.Groups.map((g) => g.GroupName), ["admins", "editors"]);
assert.equal(groups.Groups[0].UserPoolId, UserPoolId);
assert.equal(groups.Groups[1].Description, "Edit the pages");
assert.equal(groups.Groups[1].Precedence, 2);
assert.ok(groups.Groups[1].CreationDate instanceof Date && !isNaN(groups.Groups[1].CreationDate));
const page = await send(new AdminListGroupsForUserCommand({ UserPoolId, Username: email, Limit: 1 }));
assert.deepEqual(page.Groups.map((g) => g.GroupName), ["admins"]);
const next = await send(new AdminListGroupsForUserCommand({ UserPoolId, Username: email, Limit: 1, NextToken: page.NextToken }));
assert.deepEqual(next.Groups.map((g) => g.GroupName), ["editors"]);
assert.equal(next.NextToken, undefined);
await send(new AdminRemoveUserFromGroupCommand({ UserPoolId, Username: email, GroupName: "admins" }));
groups = await send(new AdminListGroupsForUserCommand({ UserPoolId, Username: email }));
assert.deepEqual(groups.Groups.map((g) => g.GroupName), ["editors"]);
step("AdminAddUserToGroup / AdminListGroupsForUser / AdminRemoveUserFromGroup");

// Disable: sign-in refused, the access token dead; enable: sign-in again.
await send(new AdminDisableUserCommand({ UserPoolId, Username: email }));
await expectError(auth(chosen), "NotAuthorizedException");
await expectError(admin.send(new GetUserCommand({ AccessToken: done.AuthenticationResult.AccessToken })), "NotAuthorizedException");
u = await send(new AdminGetUserCommand({ UserPoolId, Username: email }));
assert.equal(u.Enabled, false);
step("AdminDisableUser");
await new Promise((r) => setTimeout(r, 1100)); // revocations are by the second: sign in after it
await send(new AdminEnableUserCommand({ UserPoolId, Username: email }));
const again = await auth(chosen);
assert.ok(again.AuthenticationResult.AccessToken);
await admin.send(new GetUserCommand({ AccessToken: again.AuthenticationResult.AccessToken }));
step("AdminEnableUser");

// Global sign-out: the access token and the refresh token die.
await new Promise((r) => setTimeout(r, 1100)); // revocations are by the second
await send(new AdminUserGlobalSignOutCommand({ UserPoolId, Username: email }));
await expectError(admin.send(new GetUserCommand({ AccessToken: again.AuthenticationResult.AccessToken })), "NotAuthorizedException");
await expectError(send(new AdminInitiateAuthCommand({
  UserPoolId, ClientId: ADMIN_CLIENT, AuthFlow: "REFRESH_TOKEN_AUTH", AuthParameters: { REFRESH_TOKEN: again.AuthenticationResult.RefreshToken },
})), "NotAuthorizedException");
step("AdminUserGlobalSignOut");

// Passwords set by an administrator.
const permanent = "Permanent horse battery staple 3";
await send(new AdminSetUserPasswordCommand({ UserPoolId, Username: email, Password: permanent, Permanent: true }));
const withPermanent = await auth(permanent);
assert.ok(withPermanent.AuthenticationResult);
await send(new AdminSetUserPasswordCommand({ UserPoolId, Username: email, Password: temporary, Permanent: false }));
assert.equal((await auth(temporary)).ChallengeName, "NEW_PASSWORD_REQUIRED");
await expectError(send(new AdminSetUserPasswordCommand({ UserPoolId, Username: email, Password: "short", Permanent: true })), "InvalidPasswordException");
step("AdminSetUserPassword");

// AdminConfirmSignUp of a sign-up nobody confirmed.
const signer = `sign-${Date.now()}@example.com`;
await admin.send(new SignUpCommand({ ClientId: PUBLIC_CLIENT, Username: signer, Password: chosen }));
assert.equal((await send(new AdminGetUserCommand({ UserPoolId, Username: signer }))).UserStatus, "UNCONFIRMED");
await send(new AdminConfirmSignUpCommand({ UserPoolId, Username: signer }));
assert.equal((await send(new AdminGetUserCommand({ UserPoolId, Username: signer }))).UserStatus, "CONFIRMED");
await expectError(send(new AdminConfirmSignUpCommand({ UserPoolId, Username: signer })), "NotAuthorizedException");
step("AdminConfirmSignUp");

// The invitation mailed (MessageAction absent), then RESEND; a reset
// required by the administrator (its code mailed).
const invited = `invited-${Date.now()}@example.com`;
const inv = await send(new AdminCreateUserCommand({ UserPoolId, Username: invited, DesiredDeliveryMediums: ["EMAIL"] }));
assert.equal(inv.User.UserStatus, "FORCE_CHANGE_PASSWORD");
await send(new AdminCreateUserCommand({ UserPoolId, Username: invited, MessageAction: "RESEND" }));
await expectError(send(new AdminCreateUserCommand({ UserPoolId, Username: signer, MessageAction: "RESEND" })), "UnsupportedUserStateException");
console.log("INVITED", invited);
await send(new AdminResetUserPasswordCommand({ UserPoolId, Username: signer }));
assert.equal((await send(new AdminGetUserCommand({ UserPoolId, Username: signer }))).UserStatus, "RESET_REQUIRED");
await expectError(send(new AdminInitiateAuthCommand({
  UserPoolId, ClientId: ADMIN_CLIENT, AuthFlow: "ADMIN_USER_PASSWORD_AUTH", AuthParameters: { USERNAME: signer, PASSWORD: chosen },
})), "PasswordResetRequiredException");
console.log("RESET", signer);
step("invitation mailed, RESEND, AdminResetUserPassword");

// The pool and its clients.
const pool = await send(new DescribeUserPoolCommand({ UserPoolId }));
assert.equal(pool.UserPool.Id, UserPoolId);
assert.deepEqual(pool.UserPool.UsernameAttributes, ["email"]);
assert.ok(pool.UserPool.Policies.PasswordPolicy.MinimumLength >= 8);
const clients = await send(new ListUserPoolClientsCommand({ UserPoolId }));
assert.ok(clients.UserPoolClients.some((c) => c.ClientId === ADMIN_CLIENT));
const desc = await send(new DescribeUserPoolClientCommand({ UserPoolId, ClientId: ADMIN_CLIENT }));
assert.ok(desc.UserPoolClient.ExplicitAuthFlows.includes("ALLOW_ADMIN_USER_PASSWORD_AUTH"));
assert.equal(desc.UserPoolClient.ClientSecret, undefined);
await expectError(send(new DescribeUserPoolClientCommand({ UserPoolId, ClientId: "nosuchclient" })), "ResourceNotFoundException");
step("DescribeUserPool / ListUserPoolClients / DescribeUserPoolClient");

// A read-only key reads, and changes nothing.
const ro = await readOnly.send(new AdminGetUserCommand({ UserPoolId, Username: email }));
assert.equal(ro.Username, sub);
await readOnly.send(new DescribeUserPoolCommand({ UserPoolId }));
await expectError(readOnly.send(new AdminCreateUserCommand({ UserPoolId, Username: "ro@example.com", MessageAction: "SUPPRESS" })), "AccessDeniedException");
await expectError(readOnly.send(new AdminDisableUserCommand({ UserPoolId, Username: email })), "AccessDeniedException");
await expectError(readOnly.send(new AdminInitiateAuthCommand({
  UserPoolId, ClientId: ADMIN_CLIENT, AuthFlow: "ADMIN_USER_PASSWORD_AUTH", AuthParameters: { USERNAME: email, PASSWORD: temporary },
})), "AccessDeniedException");
assert.equal((await send(new AdminGetUserCommand({ UserPoolId, Username: email }))).Enabled, true);
step("read-only key");

// A wrong secret.
await expectError(wrongSecret.send(new AdminGetUserCommand({ UserPoolId, Username: email })), "InvalidSignatureException");
step("wrong secret refused");

// Delete: then the user is not found.
await send(new AdminDeleteUserCommand({ UserPoolId, Username: email }));
await expectError(send(new AdminGetUserCommand({ UserPoolId, Username: email })), "UserNotFoundException");
await expectError(send(new AdminDeleteUserCommand({ UserPoolId, Username: sub })), "UserNotFoundException");
await expectError(auth(temporary), "NotAuthorizedException");
step("AdminDeleteUser");

console.log("USER", sub);
console.log("ALL OK");
