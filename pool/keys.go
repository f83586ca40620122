package pool

import (
	"context"
	"errors"

	"github.com/gatehouse-auth/gatehouse/store"
)

// CookieKeyKind is the store.Key kind of a pool's cookie keys. A key's
// CreatedAt is when it starts sealing cookies (middleware.CookieKey's
// ActiveFrom): `gatehouse keys rotate` sets it a little ahead, so that every
// instance has the key before any seals with it.
const CookieKeyKind = "cookie"

// EnsureKeys returns the store's keys of one kind, newest first, creating the
// first one with generate when there is none. Two processes starting at once
// on a fresh store may both create one; both keys are kept and every caller
// reads back the full set, so neither process's key is lost.
func EnsureKeys(ctx context.Context, s store.Store, kind string, generate func() (store.Key, error)) ([]store.Key, error) {
	keys, err := s.Keys(ctx, kind)
	if err != nil || len(keys) > 0 {
		return keys, err
	}
	k, err := generate()
	if err != nil {
		return nil, err
	}
	k.Kind = kind
	if err := s.AddKey(ctx, k); err != nil && !errors.Is(err, store.ErrConflict) {
		return nil, err
	}
	return s.Keys(ctx, kind)
}
