package postgres

import (
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/storetest"
)

// TestMFAAcrossStores stands for several gateways on one database: each has
// its own connection pool, and the replay guard, recovery codes and failure
// counts still hold across them.
func TestMFAAcrossStores(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	const n = 4
	stores := make([]store.Store, n)
	for i := range stores {
		stores[i] = openAt(t, dsn)
	}
	storetest.RunAcrossStores(t, stores)
}
