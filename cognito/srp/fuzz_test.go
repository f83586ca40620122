package srp_test

import (
	"bytes"
	"math/big"
	"testing"

	"github.com/gatehouse-auth/gatehouse/cognito/srp"
)

// Whatever a client sends as SRP_A and TIMESTAMP is refused or served,
// never a panic, and an A that is 0 mod N is always refused.
func FuzzClientInput(f *testing.F) {
	f.Add("2", "Sun Dec 6 09:05:01 UTC 2026")
	f.Add(srp.PadHex(srp.N()), "Mon Jan 2 15:04:05 UTC 2006")
	f.Add("-1", "")
	_, v := srp.NewVerifier("P", "u", "pw")
	f.Fuzz(func(t *testing.T, a, ts string) {
		_, _ = srp.ParseTimestamp(ts)
		A, err := srp.ParseA(a)
		if err != nil {
			return
		}
		if new(big.Int).Mod(A, srp.N()).Sign() == 0 {
			t.Fatalf("A = %s accepted, 0 mod N", a)
		}
		ex, err := srp.Serve(A, v, bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
		if err != nil || len(ex.Key) != srp.KeyLen {
			t.Fatalf("Serve: %v", err)
		}
	})
}
