package store_test

import (
	"testing"

	"github.com/gatehouse-auth/gatehouse/store"
)

// plain is a Store that says nothing of its sharing; sharing says it is
// shared across hosts.
type (
	plain   struct{ store.Store }
	sharing struct{ store.Store }
)

func (sharing) SharedAcrossHosts() bool { return true }

func TestSharedAcrossHosts(t *testing.T) {
	if store.SharedAcrossHosts(plain{}) {
		t.Error("a store that says nothing is taken as shared across hosts")
	}
	if !store.SharedAcrossHosts(sharing{}) {
		t.Error("a store that says it is shared across hosts is not taken as such")
	}
}
