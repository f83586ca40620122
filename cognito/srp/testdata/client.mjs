// A client of Cognito's USER_SRP_AUTH made of amazon-cognito-identity-js's
// own AuthenticationHelper and DateHelper, for the Go tests: it reads one
// JSON request a line on stdin and answers one JSON line on stdout.
//
//   {"op":"start","id":"1","poolName":"AbC"}            -> {"id":"1","A":"<hex>"}
//   {"op":"finish","id":"1","userId":..,"password":..,
//    "B":..,"salt":..,"secretBlock":"<base64>","timestamp":"<optional>"}
//                                                       -> {"id":"1","signature":..,"timestamp":..}
//
// finish signs exactly as CognitoUser.authenticateUserDefaultAuth does.
import readline from 'node:readline';
import { createRequire } from 'node:module';
import { Buffer } from 'node:buffer';

const require = createRequire(import.meta.url);
const lib = require('amazon-cognito-identity-js');
const { Sha256 } = require('@aws-crypto/sha256-js');
const BigInteger = require('amazon-cognito-identity-js/lib/BigInteger').default;

const helpers = new Map();

function start(req) {
	const h = new lib.AuthenticationHelper(req.poolName);
	return new Promise((resolve, reject) => {
		h.getLargeAValue((err, A) => {
			if (err) return reject(err);
			helpers.set(req.id, { h, poolName: req.poolName });
			resolve({ id: req.id, A: A.toString(16) });
		});
	});
}

function finish(req) {
	const { h, poolName } = helpers.get(req.id);
	helpers.delete(req.id);
	return new Promise((resolve, reject) => {
		h.getPasswordAuthenticationKey(
			req.userId,
			req.password,
			new BigInteger(req.B, 16),
			new BigInteger(req.salt, 16),
			(err, hkdf) => {
				if (err) return reject(err);
				const timestamp = req.timestamp || new lib.DateHelper().getNowString();
				const msg = Buffer.concat([
					Buffer.from(poolName, 'utf8'),
					Buffer.from(req.userId, 'utf8'),
					Buffer.from(req.secretBlock, 'base64'),
					Buffer.from(timestamp, 'utf8'),
				]);
				const mac = new Sha256(hkdf);
				mac.update(msg);
				resolve({
					id: req.id,
					signature: Buffer.from(mac.digestSync()).toString('base64'),
					timestamp,
				});
			}
		);
	});
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', async line => {
	let req;
	try {
		req = JSON.parse(line);
		const out = req.op === 'start' ? await start(req) : await finish(req);
		process.stdout.write(JSON.stringify(out) + '\n');
	} catch (e) {
		process.stdout.write(JSON.stringify({ id: req && req.id, error: String(e && e.stack || e) }) + '\n');
	}
});
