package oidc

import (
	"context"
	"slices"
)

// ClientIDs lists every client's id, the Caddyfile's and the store's,
// sorted; a stored client shadowed by a configured one of its id is listed
// once. For the Cognito API's ListUserPoolClients.
func (p *Provider) ClientIDs(ctx context.Context) ([]string, error) {
	ids := make([]string, 0, len(p.clients.configured))
	for id := range p.clients.configured {
		ids = append(ids, id)
	}
	stored, err := p.clients.store.ListClients(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range stored {
		if _, ok := p.clients.configured[c.ID]; !ok {
			ids = append(ids, c.ID)
		}
	}
	slices.Sort(ids)
	return ids, nil
}
