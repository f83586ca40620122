// The app's side of an authorization code flow with the pool's OpenID
// provider, done by openid-client (a certified relying party nobody here
// wrote): it redeems the code the browser came back with, checking state,
// nonce, PKCE, the issuer and the ID token's signature, then reads userinfo,
// and prints {"claims": <ID token claims>, "userinfo": ...} as JSON.
//
//   node rp.mjs <issuer> <client_id> <client_secret> <callback URL> <code_verifier> <state> <nonce>
import * as client from 'openid-client';

const [issuer, clientId, secret, callbackURL, verifier, state, nonce] = process.argv.slice(2);
const config = await client.discovery(new URL(issuer), clientId, secret, undefined,
  { execute: [client.allowInsecureRequests] });
const tokens = await client.authorizationCodeGrant(config, new URL(callbackURL), {
  pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce,
});
const claims = tokens.claims();
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
console.log(JSON.stringify({ claims, userinfo }));
