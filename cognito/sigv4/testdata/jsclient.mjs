// Calls an admin action through the AWS SDK for JavaScript v3 with static
// credentials against ENDPOINT, as a Cognito app's operator scripts would,
// and prints one JSON line: {"ok": true, "username": ...} or the error's
// name and message.
import {
  CognitoIdentityProviderClient,
  AdminGetUserCommand,
} from "@aws-sdk/client-cognito-identity-provider";

const client = new CognitoIdentityProviderClient({
  endpoint: process.env.ENDPOINT,
  region: process.env.REGION,
  credentials: {
    accessKeyId: process.env.KEY_ID,
    secretAccessKey: process.env.SECRET,
  },
  maxAttempts: 1,
});

try {
  const out = await client.send(
    new AdminGetUserCommand({ UserPoolId: process.env.POOL_ID, Username: "ada@example.com" }),
  );
  console.log(JSON.stringify({ ok: true, username: out.Username }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, name: err.name, message: err.message }));
}
