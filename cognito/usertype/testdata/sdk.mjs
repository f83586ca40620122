// Reads the answers of a stand-in server through the AWS SDK's own
// Cognito client, so the shapes are parsed by the SDK's deserializers
// (field names, epoch-second dates), and prints what the SDK made of them.
import {
  CognitoIdentityProviderClient, AdminGetUserCommand, ListUsersCommand, GetGroupCommand, ListGroupsCommand,
} from "@aws-sdk/client-cognito-identity-provider";

const client = new CognitoIdentityProviderClient({
  endpoint: process.argv[2],
  region: "eu-west-1",
  credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" },
});
const pool = "eu-west-1_AbC123";
const out = {};
const u = await client.send(new AdminGetUserCommand({ UserPoolId: pool, Username: "ada" }));
out.adminGetUser = {
  Username: u.Username, Attributes: u.UserAttributes, Created: u.UserCreateDate.toISOString(),
  Modified: u.UserLastModifiedDate.toISOString(), Enabled: u.Enabled, UserStatus: u.UserStatus,
  MFA: u.UserMFASettingList, Preferred: u.PreferredMfaSetting,
};
const l = await client.send(new ListUsersCommand({ UserPoolId: pool, Filter: 'email ^= "ada"' }));
out.listUsers = {
  Usernames: l.Users.map((x) => x.Username), Attributes: l.Users[0].Attributes,
  Created: l.Users[0].UserCreateDate.toISOString(), Enabled: l.Users[0].Enabled, Token: l.PaginationToken,
};
const g = await client.send(new GetGroupCommand({ UserPoolId: pool, GroupName: "admins" }));
out.getGroup = {
  GroupName: g.Group.GroupName, UserPoolId: g.Group.UserPoolId, Description: g.Group.Description,
  Precedence: g.Group.Precedence, Created: g.Group.CreationDate.toISOString(), Modified: g.Group.LastModifiedDate.toISOString(),
};
const gs = await client.send(new ListGroupsCommand({ UserPoolId: pool }));
out.listGroups = { Names: gs.Groups.map((x) => x.GroupName), Precedence: gs.Groups.map((x) => x.Precedence ?? null), Token: gs.NextToken };
console.log(JSON.stringify(out));
