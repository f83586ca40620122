// The app's side of a code flow after pre token generation, done by
// openid-client (a certified relying party nobody here wrote): it redeems
// the code, checking state, nonce, PKCE, the issuer and the ID token's
// signature, and prints the ID token's claims, the access token and the
// granted scope as JSON.
//
//   node rp.mjs <issuer> <client_id> <client_secret> <callback URL> <code_verifier> <state> <nonce>
import * as client from 'openid-client';

const [issuer, clientId, secret, callbackURL, verifier, state, nonce] = process.argv.slice(2);
const config = await client.discovery(new URL(issuer), clientId, secret, undefined,
  { execute: [client.allowInsecureRequests] });
const tokens = await client.authorizationCodeGrant(config, new URL(callbackURL), {
  pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce,
});
console.log(JSON.stringify({ claims: tokens.claims(), access_token: tokens.access_token, scope: tokens.scope }));
