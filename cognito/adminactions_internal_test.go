package cognito

import (
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/cognito/sigv4"
)

// TestAdminReadOnlyMarks: an action a read-only key may run is exactly one
// that changes nothing by IAM's access levels (sigv4.ReadOnlyAction), so
// the verifier's and the registry's idea of read-only never drift apart.
func TestAdminReadOnlyMarks(t *testing.T) {
	t.Parallel()
	n := 0
	for name, a := range admin {
		if strings.HasPrefix(name, "GatehouseTest") {
			continue // the seam test's own
		}
		n++
		if a.ReadOnly != sigv4.ReadOnlyAction(name) {
			t.Errorf("%s: ReadOnly %v, sigv4.ReadOnlyAction %v", name, a.ReadOnly, sigv4.ReadOnlyAction(name))
		}
	}
	if n < 20 {
		t.Errorf("%d admin actions registered, want the 20 built here at least", n)
	}
}
