// Verifies an X-Amzn-Oidc-Data value with aws-jwt-verify's AlbJwtVerifier,
// as an app written for an AWS ALB does, against a running Gatehouse site:
//
//	node verify.mjs <jwksUri> <signer ARN> <issuer> <client id> <token>
//
// It prints the verified payload as JSON, or the error and exits 1. The key
// URL is passed as given: with a trailing slash, the verifier asks for
// <jwksUri>/<kid>, that is public-keys//<kid>. TLS trust comes from
// NODE_EXTRA_CA_CERTS (the test's Caddy root).
import { AlbJwtVerifier } from "aws-jwt-verify";

const [jwksUri, albArn, issuer, clientId, token] = process.argv.slice(2);
const verifier = AlbJwtVerifier.create({ albArn, issuer, clientId, jwksUri });
try {
	const payload = await verifier.verify(token);
	console.log(JSON.stringify(payload));
} catch (err) {
	console.error(`${err.name}: ${err.message}`);
	process.exit(1);
}
