package federation

import "context"

// MetadataProvider is implemented by connectors that publish metadata of
// their own for the provider to read: a SAML service provider's entity ID,
// assertion consumer service and certificates. The pages serve it at
// SAMLMetadataPath + the provider's name.
type MetadataProvider interface {
	// Metadata returns the XML document for the site whose assertion
	// consumer service is acsURL (SAMLCallbackPath or SiteSAMLCallbackPath
	// on the host the metadata was asked on).
	Metadata(ctx context.Context, acsURL string) ([]byte, error)
}
