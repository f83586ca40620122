package saml

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/federation"
)

// maxResponseSize bounds a posted SAMLResponse (base64): real ones are a
// few kilobytes, encrypted ones with many attributes some tens.
const maxResponseSize = 256 << 10

// Reasons a Response is refused here (beside the library's own, which the
// errors also wrap: crewjam.ErrInvalidSignature, ErrAudienceMismatch ...).
var (
	errReplayed         = errors.New("saml: the assertion was used before")
	errUnsolicited      = errors.New("saml: IdP-initiated sign-on is off for this provider")
	errRelayState       = errors.New("saml: RelayState does not match the sign-in's state")
	errSignaturePolicy  = errors.New("saml: the required signature is missing")
	errTransient        = errors.New("saml: a transient NameID cannot identify a user")
	errNoSubject        = errors.New("saml: the assertion names no subject")
	errMissingResponse  = errors.New("saml: no SAMLResponse")
	errNoRequest        = errors.New("saml: the sign-in has no AuthnRequest ID")
	errNotYetValid      = fmt.Errorf("saml: not valid yet within allowed_clock_skew: %w", crewjam.ErrNotYetValid)
	errExpiredWithSkew  = fmt.Errorf("saml: expired within allowed_clock_skew: %w", crewjam.ErrExpired)
	errBadRedirectURI   = errors.New("saml: the assertion consumer service URL is not an absolute http(s) URL")
	errUnsigned         = fmt.Errorf("saml: the assertion is not covered by a signature: %w", crewjam.ErrInvalidSignature)
	errNoBearerInWindow = fmt.Errorf("saml: no bearer SubjectConfirmation for this ACS valid within allowed_clock_skew: %w", crewjam.ErrExpired)
)

// Connector is one SAML identity provider of a pool.
type Connector struct {
	info         federation.Info
	name         string
	entityID     string
	keys         *spKeys
	idp          *idpMetadata
	env          federation.Env
	now          func() time.Time
	signRequests bool
	requireSig   string
	skew         time.Duration
	nameIDFormat crewjam.NameIDFormat
	idpInitiated bool
	subjectAttr  string
	emailAttr    string
	trustEmail   string
	mapping      federation.Mapping
}

var (
	_ federation.Connector        = (*Connector)(nil)
	_ federation.IdPInitiated     = (*Connector)(nil)
	_ federation.MetadataProvider = (*Connector)(nil)
)

// defaultMapping: pool attributes from the LDAP names, which aliases also
// fill from the urn:oid and claim-URI spellings.
var defaultMapping = map[string]string{
	"given_name":  "givenName",
	"family_name": "sn",
	"name":        "displayName",
}

func open(ctx context.Context, cfg *Provider, env federation.Env) (*Connector, error) {
	if env.Store == nil {
		return nil, fmt.Errorf("idp %s: saml: no store", env.Name)
	}
	now := env.Now
	if now == nil {
		now = time.Now
	}
	logger := env.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	env.Logger = logger
	entityID := cfg.EntityID
	if entityID == "" {
		if env.Issuer == "" {
			return nil, fmt.Errorf("idp %s: saml: entity_id is required when the pool has no issuer", env.Name)
		}
		entityID = strings.TrimRight(env.Issuer, "/") + federation.SAMLMetadataPath + url.PathEscape(env.Name)
	}
	format, _ := nameIDFormat(cfg.NameIDFormat)
	c := &Connector{
		name:         env.Name,
		entityID:     entityID,
		env:          env,
		now:          now,
		signRequests: cfg.SignRequests == nil || *cfg.SignRequests,
		requireSig:   orDefault(cfg.RequireSignature, SignedEither),
		skew:         DefaultClockSkew,
		nameIDFormat: format,
		idpInitiated: cfg.IdPInitiated,
		subjectAttr:  cfg.SubjectAttribute,
		emailAttr:    orDefault(cfg.EmailAttribute, "mail"),
		trustEmail:   orDefault(cfg.TrustEmail, TrustDomains),
		mapping:      cfg.Mapping(defaultMapping),
	}
	if cfg.AllowedClockSkew != 0 {
		c.skew = time.Duration(cfg.AllowedClockSkew)
	}
	c.info = cfg.Info(env.Name, Kind, "SAML", "")
	c.info.Protocol = federation.ProtocolSAML
	c.info.FormPost = true

	c.idp = &idpMetadata{
		entityID: cfg.IdPEntityID,
		refresh:  DefaultMetadataRefresh,
		client:   env.HTTPClient,
		logger:   logger,
		now:      now,
	}
	if cfg.MetadataRefresh != 0 {
		c.idp.refresh = time.Duration(cfg.MetadataRefresh)
	}
	if cfg.MetadataFile != "" {
		ed, err := readMetadataFile(cfg.MetadataFile, cfg.IdPEntityID)
		if err != nil {
			return nil, fmt.Errorf("idp %s: saml: %w", env.Name, err)
		}
		c.idp.current = ed
	} else {
		u, err := metadataURL(cfg.MetadataURL)
		if err != nil {
			return nil, fmt.Errorf("idp %s: saml: %w", env.Name, err)
		}
		if env.HTTPClient == nil {
			return nil, fmt.Errorf("idp %s: saml: no HTTP client for metadata_url", env.Name)
		}
		c.idp.url = u.String()
		// Fetched now in the background, so that the first sign-in need
		// not wait and an unreachable IdP is logged at start; the pool
		// opens either way.
		c.idp.refreshing = true
		go c.idp.refreshInBackground()
	}

	keys, err := loadKeys(ctx, env.Store, env.Name, "Gatehouse SAML SP "+env.Name, now())
	if err != nil {
		return nil, err
	}
	c.keys = keys
	return c, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Info describes the provider.
func (c *Connector) Info() federation.Info { return c.info }

// EntityID is the service provider's entity ID (the assertions' Audience).
func (c *Connector) EntityID() string { return c.entityID }

// serviceProvider is the library's view of this SP for one exchange whose
// assertion consumer service is acs: per call, because the ACS URL is the
// site's and the clock the pool's.
func (c *Connector) serviceProvider(idp *crewjam.EntityDescriptor, acs *url.URL, unsolicited bool, now time.Time) *crewjam.ServiceProvider {
	sp := &crewjam.ServiceProvider{
		EntityID:                         c.entityID,
		Key:                              c.keys.signKey,
		Certificate:                      c.keys.signCert,
		EncryptionKey:                    c.keys.encKey,
		EncryptionCertificate:            c.keys.encCert,
		HTTPClient:                       c.env.HTTPClient,
		AcsURL:                           *acs,
		IDPMetadata:                      idp,
		AuthnNameIDFormat:                c.nameIDFormat,
		AllowIDPInitiated:                unsolicited,
		AssertionConsumerServiceBindings: []string{crewjam.HTTPPostBinding},
		// cacheDuration, not validUntil: IdPs that import the metadata once
		// (most) must not find it expired two days later.
		MetadataOmitValidUntil: true,
		Clock:                  dsig.NewFakeClockAt(now),
		// The metadata pins the keys; the dates of a certificate in it are
		// not meaningful (SAML V2.0 Metadata Interoperability Profile), and
		// IdPs publish expired self-signed ones.
		IgnoreCertificateExpiry: true,
	}
	if c.signRequests {
		sp.SignatureMethod = dsig.RSASHA256SignatureMethod
	}
	return sp
}

func parseACS(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" {
		return nil, errBadRedirectURI
	}
	return u, nil
}

// Metadata returns the SP metadata for the site whose ACS URL is acsURL:
// entity ID, the ACS (HTTP-POST), the signing and encryption certificates,
// AuthnRequestsSigned and WantAssertionsSigned.
func (c *Connector) Metadata(ctx context.Context, acsURL string) ([]byte, error) {
	acs, err := parseACS(acsURL)
	if err != nil {
		return nil, err
	}
	ed := c.serviceProvider(nil, acs, false, c.now()).Metadata()
	if c.requireSig == SignedResponse {
		// Ask for what is required: a signed Response, the assertion
		// itself unsigned.
		no := false
		for i := range ed.SPSSODescriptors {
			ed.SPSSODescriptors[i].WantAssertionsSigned = &no
		}
	}
	out, err := xml.MarshalIndent(ed, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), out...), nil
}

// Begin returns the IdP's single sign-on URL with a signed AuthnRequest
// (HTTP-Redirect binding) whose RelayState is req.State; Start.RequestID is
// the AuthnRequest's ID, which the Response must name in InResponseTo.
func (c *Connector) Begin(ctx context.Context, req federation.Request) (federation.Start, error) {
	acs, err := parseACS(req.RedirectURI)
	if err != nil {
		return federation.Start{}, err
	}
	if req.State == "" {
		return federation.Start{}, errors.New("saml: a sign-in needs a state for RelayState")
	}
	ed, err := c.idp.get(ctx)
	if err != nil {
		return federation.Start{}, err
	}
	sp := c.serviceProvider(ed, acs, false, c.now())
	loc := sp.GetSSOBindingLocation(crewjam.HTTPRedirectBinding)
	authn, err := sp.MakeAuthenticationRequest(loc, crewjam.HTTPRedirectBinding, crewjam.HTTPPostBinding)
	if err != nil {
		return federation.Start{}, fmt.Errorf("saml: making the AuthnRequest: %w", err)
	}
	u, err := authn.Redirect(req.State, sp)
	if err != nil {
		return federation.Start{}, fmt.Errorf("saml: signing the AuthnRequest: %w", err)
	}
	return federation.Start{URL: u.String(), RequestID: authn.ID}, nil
}

// Complete checks the Response posted to the ACS for the AuthnRequest of
// cb.Request (params SAMLResponse and RelayState) and returns who signed
// in. The package comment lists the checks.
func (c *Connector) Complete(ctx context.Context, cb federation.Callback) (*federation.Identity, error) {
	if cb.Request.RequestID == "" {
		return nil, invalid(errNoRequest)
	}
	relay := cb.Params.Get("RelayState")
	if cb.Request.State == "" || subtle.ConstantTimeCompare([]byte(relay), []byte(cb.Request.State)) != 1 {
		return nil, invalid(errRelayState)
	}
	return c.complete(ctx, cb.Params, cb.Request.RedirectURI, []string{cb.Request.RequestID})
}

// CompleteUnsolicited takes an IdP-initiated Response (no InResponseTo),
// only when idp_initiated is on; it is otherwise checked as Complete checks
// an answer, one-time use included.
func (c *Connector) CompleteUnsolicited(ctx context.Context, params url.Values, redirectURI string) (*federation.Identity, error) {
	if !c.idpInitiated {
		return nil, invalid(errUnsolicited)
	}
	return c.complete(ctx, params, redirectURI, nil)
}

func invalid(err error) error {
	return fmt.Errorf("%w: %w", federation.ErrInvalidResponse, err)
}

// complete checks a Response; requestIDs nil means an unsolicited one.
func (c *Connector) complete(ctx context.Context, params url.Values, redirectURI string, requestIDs []string) (*federation.Identity, error) {
	acs, err := parseACS(redirectURI)
	if err != nil {
		return nil, err
	}
	raw := params.Get("SAMLResponse")
	if raw == "" {
		return nil, invalid(errMissingResponse)
	}
	if len(raw) > maxResponseSize {
		return nil, invalid(fmt.Errorf("saml: SAMLResponse larger than %d bytes: %w", maxResponseSize, crewjam.ErrMalformedMessage))
	}
	doc, err := base64.StdEncoding.DecodeString(stripSpace(raw))
	if err != nil {
		return nil, invalid(fmt.Errorf("saml: SAMLResponse is not base64: %w", crewjam.ErrMalformedMessage))
	}
	ed, err := c.idp.get(ctx)
	if err != nil {
		return nil, err
	}
	now := c.now()
	sp := c.serviceProvider(ed, acs, requestIDs == nil, now)
	assertion, err := sp.ParseXMLResponse(doc, requestIDs, *acs)
	if err != nil {
		var status crewjam.ErrBadStatus
		if errors.As(err, &status) {
			return nil, fmt.Errorf("%w: SAML status %s", federation.ErrDenied, status.Status)
		}
		var ire *crewjam.InvalidResponseError
		if errors.As(err, &ire) && ire.PrivateErr != nil {
			err = ire.PrivateErr
		}
		// The library leaves "no signature where one is required"
		// unclassified; name it (TestUnsignedRefused holds the match).
		if strings.HasSuffix(err.Error(), "signature element not present") {
			err = errUnsigned
		}
		return nil, invalid(err)
	}
	if err := c.checkTimes(assertion, acs, now); err != nil {
		return nil, invalid(err)
	}
	if err := c.checkSignatures(doc, assertion); err != nil {
		return nil, invalid(err)
	}
	id, err := c.identity(ed.EntityID, assertion)
	if err != nil {
		return nil, invalid(err)
	}
	// Last, so that a Response refused for another reason is not spent.
	if err := c.spend(ctx, ed.EntityID, assertion); err != nil {
		return nil, err
	}
	return id, nil
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
}

// checkTimes applies allowed_clock_skew, which is tighter than the
// library's (crewjam.MaxClockSkew, a process-wide setting): the assertion's
// IssueInstant and Conditions, and one bearer confirmation for this ACS.
func (c *Connector) checkTimes(a *crewjam.Assertion, acs *url.URL, now time.Time) error {
	skew := c.skew
	if a.IssueInstant.Add(-skew).After(now) {
		return errNotYetValid
	}
	if cond := a.Conditions; cond != nil {
		if cond.NotBefore.Add(-skew).After(now) {
			return errNotYetValid
		}
		if !cond.NotOnOrAfter.IsZero() && !now.Before(cond.NotOnOrAfter.Add(skew)) {
			return errExpiredWithSkew
		}
	}
	if a.Subject == nil {
		return errNoSubject
	}
	for _, sc := range a.Subject.SubjectConfirmations {
		d := sc.SubjectConfirmationData
		if sc.Method != "urn:oasis:names:tc:SAML:2.0:cm:bearer" || d == nil || d.Recipient != acs.String() {
			continue
		}
		if !d.NotBefore.Add(-skew).After(now) && now.Before(d.NotOnOrAfter.Add(skew)) {
			return nil
		}
	}
	return errNoBearerInWindow
}

const dsigNS = "http://www.w3.org/2000/09/xmldsig#"

// checkSignatures applies require_signature. The library has checked every
// signature present (one present and invalid refuses the Response) and
// that the assertion is covered by one; this asks which were there.
func (c *Connector) checkSignatures(doc []byte, a *crewjam.Assertion) error {
	if c.requireSig == SignedEither {
		return nil
	}
	assertionSigned := a.Signature != nil
	responseSigned, err := responseHasSignature(doc)
	if err != nil {
		return err
	}
	switch {
	case (c.requireSig == SignedAssertion || c.requireSig == SignedBoth) && !assertionSigned:
		return fmt.Errorf("%w: the assertion is not signed (require_signature %s)", errSignaturePolicy, c.requireSig)
	case (c.requireSig == SignedResponse || c.requireSig == SignedBoth) && !responseSigned:
		return fmt.Errorf("%w: the Response is not signed (require_signature %s)", errSignaturePolicy, c.requireSig)
	}
	return nil
}

// responseHasSignature reports whether the Response element has an
// XML-DSig Signature child: the one the library verified, as it checks the
// Response's signature whenever one is there. It reads the document with
// the library's own parser (etree), so that the two cannot disagree on
// what the Response holds.
func responseHasSignature(doc []byte) (bool, error) {
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil || d.Root() == nil {
		return false, fmt.Errorf("saml: reading the Response: %w", crewjam.ErrMalformedMessage)
	}
	for _, c := range d.Root().ChildElements() {
		if c.Tag == "Signature" && c.NamespaceURI() == dsigNS {
			return true, nil
		}
	}
	return false, nil
}

// spend marks the assertion used, once across every instance on the store:
// a count of the store's shared counter whose window starts after the last
// moment any instance would accept the assertion (IssueInstant +
// MaxIssueDelay, plus the largest skew for the instances' clocks), so that
// purging old windows never forgets one that could still be replayed.
func (c *Connector) spend(ctx context.Context, issuer string, a *crewjam.Assertion) error {
	start := a.IssueInstant.Add(crewjam.MaxIssueDelay + MaxClockSkew).Truncate(time.Second)
	n, _, err := c.env.Store.CountHit(ctx, replayKey(c.name, issuer, a.ID), start, time.Second)
	if err != nil {
		return fmt.Errorf("%w: recording the assertion's use: %v", federation.ErrUnavailable, err)
	}
	if n != 1 {
		c.env.Logger.Warn("saml: a replayed assertion was refused", zap.String("provider", c.name), zap.String("issuer", issuer))
		return invalid(errReplayed)
	}
	return nil
}
