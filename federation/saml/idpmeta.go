package saml

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	crewjam "github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"
	"go.uber.org/zap"

	"github.com/gatehouse-auth/gatehouse/federation"
)

// maxMetadataSize bounds an IdP metadata document (aggregates of a whole
// federation are larger: name the IdP's own document instead).
const maxMetadataSize = 4 << 20

// retryAfterFailure is how long a failed metadata fetch is not tried again,
// so that a down IdP is not asked on every sign-in.
const retryAfterFailure = 30 * time.Second

// idpMetadata is the identity provider's metadata: parsed once from a file,
// or fetched from a URL and refreshed every refresh, the last good copy
// kept while the IdP's server fails.
type idpMetadata struct {
	url      string // empty for a file
	entityID string // picks the IdP in an EntitiesDescriptor; "" for the only one
	refresh  time.Duration
	client   *http.Client
	logger   *zap.Logger
	now      func() time.Time

	mu         sync.Mutex
	current    *crewjam.EntityDescriptor
	fetchedAt  time.Time
	failedAt   time.Time
	refreshing bool
}

// parseIdPMetadata reads an IdP's metadata document: an EntityDescriptor, or
// an EntitiesDescriptor holding entityID (or a single IdP when entityID is
// empty). It must describe an IdP with an HTTP-Redirect single sign-on
// service and a signing certificate.
func parseIdPMetadata(data []byte, entityID string) (*crewjam.EntityDescriptor, error) {
	var ed *crewjam.EntityDescriptor
	var err error
	if entityID != "" {
		ed, err = samlsp.ParseMetadataByEntityID(data, entityID)
	} else {
		ed, err = samlsp.ParseMetadata(data)
	}
	if err != nil {
		return nil, err
	}
	if len(ed.IDPSSODescriptors) == 0 {
		return nil, fmt.Errorf("entity %q is not an identity provider (no IDPSSODescriptor)", ed.EntityID)
	}
	sp := crewjam.ServiceProvider{IDPMetadata: ed}
	if sp.GetSSOBindingLocation(crewjam.HTTPRedirectBinding) == "" {
		return nil, fmt.Errorf("identity provider %q has no HTTP-Redirect SingleSignOnService", ed.EntityID)
	}
	if !hasSigningKey(ed) {
		return nil, fmt.Errorf("identity provider %q publishes no signing certificate", ed.EntityID)
	}
	return ed, nil
}

func hasSigningKey(ed *crewjam.EntityDescriptor) bool {
	for _, d := range ed.IDPSSODescriptors {
		for _, k := range d.KeyDescriptors {
			if (k.Use == "" || k.Use == "signing") && len(k.KeyInfo.X509Data.X509Certificates) > 0 {
				return true
			}
		}
	}
	return false
}

// get returns the metadata, fetching it when there is none yet (an error
// then wraps federation.ErrUnavailable) and starting a refresh in the
// background when it is older than refresh.
func (m *idpMetadata) get(ctx context.Context) (*crewjam.EntityDescriptor, error) {
	m.mu.Lock()
	cur := m.current
	if m.url == "" {
		m.mu.Unlock()
		return cur, nil
	}
	now := m.now()
	if cur != nil {
		if now.Sub(m.fetchedAt) >= m.refresh && now.Sub(m.failedAt) >= retryAfterFailure && !m.refreshing {
			m.refreshing = true
			go m.refreshInBackground()
		}
		m.mu.Unlock()
		return cur, nil
	}
	if now.Sub(m.failedAt) < retryAfterFailure {
		m.mu.Unlock()
		return nil, fmt.Errorf("%w: the identity provider's metadata could not be fetched lately", federation.ErrUnavailable)
	}
	m.mu.Unlock()
	ed, err := m.fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", federation.ErrUnavailable, err)
	}
	return ed, nil
}

func (m *idpMetadata) refreshInBackground() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := m.fetch(ctx)
	m.mu.Lock()
	m.refreshing = false
	m.mu.Unlock()
	if err != nil {
		m.logger.Warn("saml: refreshing the identity provider's metadata failed; keeping the last copy",
			zap.String("metadata_url", m.url), zap.Error(err))
	}
}

// fetch reads the metadata from its URL and keeps it when it is good.
func (m *idpMetadata) fetch(ctx context.Context) (*crewjam.EntityDescriptor, error) {
	ed, err := m.download(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.failedAt = m.now()
		return nil, err
	}
	m.current, m.fetchedAt, m.failedAt = ed, m.now(), time.Time{}
	return ed, nil
}

func (m *idpMetadata) download(ctx context.Context) (*crewjam.EntityDescriptor, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml;q=0.9, */*;q=0.1")
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", m.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s: status %s", m.url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", m.url, err)
	}
	if len(data) > maxMetadataSize {
		return nil, fmt.Errorf("fetching %s: larger than %d bytes", m.url, maxMetadataSize)
	}
	ed, err := parseIdPMetadata(data, m.entityID)
	if err != nil {
		return nil, fmt.Errorf("metadata from %s: %w", m.url, err)
	}
	return ed, nil
}
