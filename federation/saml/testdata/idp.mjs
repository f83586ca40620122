// A real SAML 2.0 identity provider for the tests of federation/saml: the
// npm package samlify's IdentityProvider, which parses and verifies the
// service provider's signed AuthnRequest (HTTP-Redirect binding) and builds,
// signs and encrypts the Response (HTTP-POST binding). It signs every user in
// at once (no login page): each service provider registered with it has one
// user.
//
// Configured by environment:
//   IDP_KEY_FILE   the IdP's signing key (PEM, RSA)
//   IDP_CERT_FILE  its certificate (PEM)
//
// It listens on a free loopback port and prints "listening <base URL>".
//
//   GET  /metadata   the IdP's metadata (entity ID <base>/metadata, SSO
//                    <base>/sso, WantAuthnRequestsSigned)
//   POST /sp         registers a service provider, JSON:
//                    { metadata: "<SP metadata XML>",
//                      mode: "response" | "assertion" | "both" | "encrypted",
//                      user: { nameID, nameIDFormat, attributes: { name: [values] },
//                              status: a StatusCode other than Success } }
//                    mode says what is signed: the Response only, the
//                    assertion only, both, or the assertion signed then
//                    encrypted to the SP's encryption certificate.
//   GET  /sso        the single sign-on service: answers a registered SP's
//                    AuthnRequest (400 if its signature does not verify)
//                    with an auto-posting form carrying SAMLResponse and
//                    RelayState to the SP's ACS, as a browser would get it.
//   GET  /initiate?sp=<entity ID>  the same form for IdP-initiated sign-on
//                    (no InResponseTo).
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { inflateRawSync } from 'node:zlib';

const require = createRequire(import.meta.url);
const samlify = require('samlify');

// The IdP does not validate the AuthnRequest against the SAML schema (that
// needs a Java validator); its signature is verified.
samlify.setSchemaValidator({ validate: async () => 'skipped' });

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`idp.mjs: ${name} is required`);
    process.exit(2);
  }
  return v;
};

const privateKey = readFileSync(env('IDP_KEY_FILE'));
const signingCert = readFileSync(env('IDP_CERT_FILE'));

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`idp: ${err && err.message ? err.message : err}\n`);
  });
});

let base = '';
let idps = {};
const sps = new Map(); // SP entity ID -> { sp, mode, user }

server.listen(0, '127.0.0.1', () => {
  base = `http://127.0.0.1:${server.address().port}`;
  const settings = {
    entityID: `${base}/metadata`,
    privateKey,
    signingCert,
    wantAuthnRequestsSigned: true,
    requestSignatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    singleSignOnService: [{
      Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
      Location: `${base}/sso`,
    }],
  };
  idps = {
    plain: samlify.IdentityProvider(settings),
    encrypting: samlify.IdentityProvider({ ...settings, isAssertionEncrypted: true }),
  };
  console.log(`listening ${base}`);
});

async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

async function handle(req, res) {
  const url = new URL(req.url, base);
  if (req.method === 'GET' && url.pathname === '/metadata') {
    res.writeHead(200, { 'content-type': 'application/samlmetadata+xml' });
    res.end(idps.plain.getMetadata());
    return;
  }
  if (req.method === 'POST' && url.pathname === '/sp') {
    const reg = JSON.parse(await body(req));
    const wantMessageSigned = reg.mode === 'response' || reg.mode === 'both';
    const sp = samlify.ServiceProvider({ metadata: reg.metadata, wantMessageSigned });
    // The mode decides, whatever the SP's metadata asks, so that the
    // tests can send what an SP did not ask for.
    const assertionSigned = reg.mode !== 'response';
    sp.entityMeta.isWantAssertionsSigned = () => assertionSigned;
    sps.set(sp.entityMeta.getEntityID(), { sp, mode: reg.mode, user: reg.user });
    res.writeHead(204);
    res.end();
    return;
  }
  if (req.method === 'GET' && url.pathname === '/sso') {
    const xml = inflateRawSync(Buffer.from(url.searchParams.get('SAMLRequest') ?? '', 'base64')).toString('utf8');
    const issuer = /<(?:\w+:)?Issuer[^>]*>([^<]+)<\/(?:\w+:)?Issuer>/.exec(xml)?.[1];
    const reg = sps.get(issuer);
    if (!reg) throw new Error(`unknown service provider ${issuer}`);
    const idp = reg.mode === 'encrypted' ? idps.encrypting : idps.plain;
    // The signed octets of the redirect binding: the parameters as
    // received, in this order (saml-bindings 3.4.4.1).
    const raw = req.url.slice(req.url.indexOf('?') + 1).split('&');
    const octetString = ['SAMLRequest', 'RelayState', 'SigAlg']
      .map((p) => raw.find((kv) => kv.startsWith(`${p}=`)))
      .filter(Boolean)
      .join('&');
    const query = Object.fromEntries(url.searchParams);
    const parsed = await idp.parseLoginRequest(reg.sp, 'redirect', { query, octetString });
    await answer(res, idp, reg, parsed.extract.request.id, query.RelayState ?? '');
    return;
  }
  if (req.method === 'GET' && url.pathname === '/initiate') {
    const reg = sps.get(url.searchParams.get('sp'));
    if (!reg) throw new Error('unknown service provider');
    const idp = reg.mode === 'encrypted' ? idps.encrypting : idps.plain;
    await answer(res, idp, reg, null, url.searchParams.get('RelayState') ?? '');
    return;
  }
  res.writeHead(404);
  res.end();
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// answer sends the auto-posting form with a Response for reg's user.
async function answer(res, idp, reg, inResponseTo, relayState) {
  const user = reg.user;
  const acs = reg.sp.entityMeta.getAssertionConsumerService('post');
  const acsURL = Array.isArray(acs) ? acs[0] : acs;
  const now = new Date();
  const later = new Date(now.getTime() + 5 * 60 * 1000).toISOString();
  const authn = `<saml:AuthnStatement AuthnInstant="${now.toISOString()}" SessionIndex="_${randomUUID()}">`
    + '<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext>'
    + '</saml:AuthnStatement>';
  const attrs = Object.entries(user.attributes ?? {});
  const attributeStatement = attrs.length === 0 ? '' : '<saml:AttributeStatement>'
    + attrs.map(([name, values]) => `<saml:Attribute Name="${esc(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">`
      + values.map((v) => `<saml:AttributeValue xsi:type="xs:string">${esc(v)}</saml:AttributeValue>`).join('')
      + '</saml:Attribute>').join('')
    + '</saml:AttributeStatement>';
  const id = `_${randomUUID()}`;
  const result = await idp.createLoginResponse(reg.sp, {}, 'post', {}, {
    relayState,
    customTagReplacement: (template) => {
      const withStatements = template
        .replace('{AuthnStatement}', authn)
        .replace('{AttributeStatement}', attributeStatement);
      const context = samlify.SamlLib.replaceTagsByValue(withStatements, {
        ID: id,
        AssertionID: `_${randomUUID()}`,
        Destination: acsURL,
        Audience: reg.sp.entityMeta.getEntityID(),
        SubjectRecipient: acsURL,
        Issuer: idp.entityMeta.getEntityID(),
        IssueInstant: now.toISOString(),
        StatusCode: user.status || 'urn:oasis:names:tc:SAML:2.0:status:Success',
        ConditionsNotBefore: now.toISOString(),
        ConditionsNotOnOrAfter: later,
        SubjectConfirmationDataNotOnOrAfter: later,
        NameIDFormat: user.nameIDFormat,
        NameID: user.nameID,
        InResponseTo: inResponseTo,
      });
      return { id, context };
    },
  });
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html><body onload="document.forms[0].submit()">
<form method="post" action="${esc(acsURL)}">
<input type="hidden" name="SAMLResponse" value="${esc(result.context)}">
<input type="hidden" name="RelayState" value="${esc(relayState)}">
<noscript><button type="submit">Continue</button></noscript>
</form></body></html>
`);
}
