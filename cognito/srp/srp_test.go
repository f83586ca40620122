package srp_test

import (
	"crypto/rand"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/cognito/srp"
	"github.com/gatehouse-auth/gatehouse/cognito/srp/srptest"
)

// The library's own client, given this package's B, salt and secret block,
// signs a claim this package accepts; with a wrong password, or signed for
// another secret block, user, pool or time, it does not. Salts are chosen
// to hit every padHex case: a leading zero byte (dropped by the client's
// number parsing), a top bit set (a zero byte added), neither.
func TestLibraryClientSignsIn(t *testing.T) {
	t.Parallel()
	node := srptest.Start(t)
	cases := []struct {
		user, password string
		salt           []byte
	}{
		{"6f1c0b7e-0a43-4d7e-9d57-0e3c3f3b1a01", "correct horse battery staple", nil},
		{"2d9a6a4e-5d0b-4b5f-8f4e-7c0d9e1c2b3a", "pässwörd ünïcödé ✓", append([]byte{0x00, 0x01}, make([]byte, 14)...)},
		{"a", "x", append([]byte{0x80}, make([]byte, 15)...)},
		{"user@example.com", "p:a:s:s", append([]byte{0x7f}, make([]byte, 15)...)},
		{"7a7a7a7a-0000-4000-8000-000000000000", "", []byte{0x00, 0x00, 0x00, 0xff}},
	}
	for i := 0; i < 2; i++ {
		cases = append(cases, cases[0])
	}
	const pool = "AbCdEf123"
	for i, c := range cases {
		salt := c.salt
		v := []byte(nil)
		if salt == nil {
			salt, v = srp.NewVerifier(pool, c.user, c.password)
		} else {
			v = srp.Verifier(pool, c.user, c.password, salt)
		}
		in, err := node.Begin(pool)
		if err != nil {
			t.Fatal(err)
		}
		A, err := srp.ParseA(in.A)
		if err != nil {
			t.Fatalf("case %d: the library's A refused: %v", i, err)
		}
		ex, err := srp.Serve(A, v, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		block := make([]byte, 48)
		rand.Read(block)
		b64 := base64.StdEncoding.EncodeToString(block)
		claim, err := in.Finish(c.user, c.password, ex.B, srp.SaltHex(salt), b64, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srp.ParseTimestamp(claim.Timestamp); err != nil {
			t.Errorf("case %d: the library's TIMESTAMP %q: %v", i, claim.Timestamp, err)
		}
		if !srp.CheckSignature(ex.Key, pool, c.user, block, claim.Timestamp, claim.Signature) {
			t.Fatalf("case %d (%q): the library's signature refused", i, c.user)
		}
		for name, ok := range map[string]bool{
			"other block":     srp.CheckSignature(ex.Key, pool, c.user, block[1:], claim.Timestamp, claim.Signature),
			"other user":      srp.CheckSignature(ex.Key, pool, c.user+"x", block, claim.Timestamp, claim.Signature),
			"other pool":      srp.CheckSignature(ex.Key, pool+"x", c.user, block, claim.Timestamp, claim.Signature),
			"other timestamp": srp.CheckSignature(ex.Key, pool, c.user, block, claim.Timestamp+" ", claim.Signature),
			"empty claim":     srp.CheckSignature(ex.Key, pool, c.user, block, claim.Timestamp, ""),
		} {
			if ok {
				t.Errorf("case %d: a signature for the %s was accepted", i, name)
			}
		}

		// The same exchange signed with a wrong password fails.
		in2, err := node.Begin(pool)
		if err != nil {
			t.Fatal(err)
		}
		A2, _ := srp.ParseA(in2.A)
		ex2, err := srp.Serve(A2, v, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		bad, err := in2.Finish(c.user, c.password+"!", ex2.B, srp.SaltHex(salt), b64, "")
		if err != nil {
			t.Fatal(err)
		}
		if srp.CheckSignature(ex2.Key, pool, c.user, block, bad.Timestamp, bad.Signature) {
			t.Fatalf("case %d: a wrong password's signature was accepted", i)
		}
	}
}

// The Go client (used by the pool's tests and the benchmarks) derives the
// key the server does, and the library's client signs what it signs: the
// same key, block and time give the same signature.
func TestGoClientAgreesWithLibrary(t *testing.T) {
	t.Parallel()
	node := srptest.Start(t)
	const pool, user, pw = "Zz_9", "u-1", "hunter2 hunter2"
	salt, v := srp.NewVerifier(pool, user, pw)
	for range 5 {
		c := srp.NewClient()
		A, err := srp.ParseA(c.AHex())
		if err != nil {
			t.Fatal(err)
		}
		ex, err := srp.Serve(A, v, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key, err := c.Key(pool, user, pw, srp.SaltHex(salt), ex.B)
		if err != nil {
			t.Fatal(err)
		}
		if string(key) != string(ex.Key) {
			t.Fatal("the Go client's key differs from the server's")
		}
		if key2, _ := c.Key(pool, user, pw+"x", srp.SaltHex(salt), ex.B); string(key2) == string(ex.Key) {
			t.Fatal("a wrong password gave the same key")
		}
	}
	// The library signing with the server's own key is not reachable from
	// node; instead both sign a fixed time: the library's signature checks
	// against the server key, and so does the Go Signature for that time.
	in, err := node.Begin(pool)
	if err != nil {
		t.Fatal(err)
	}
	A, _ := srp.ParseA(in.A)
	ex, _ := srp.Serve(A, v, rand.Reader)
	ts := "Sun Dec 6 09:05:01 UTC 2026"
	claim, err := in.Finish(user, pw, ex.B, srp.SaltHex(salt), "AAEC", ts)
	if err != nil {
		t.Fatal(err)
	}
	if got := srp.Signature(ex.Key, pool, user, []byte{0, 1, 2}, ts); got != claim.Signature {
		t.Fatalf("signature %q, the library's %q", got, claim.Signature)
	}
}

func TestParseARefuses(t *testing.T) {
	t.Parallel()
	N := srp.PadHex(groupN())
	twoN := new(big.Int).Lsh(groupN(), 1).Text(16)
	for _, a := range []string{"", "0", "00", N, twoN, "-1", "xyz", "0x10", strings.Repeat("1", 1025), " 1"} {
		if _, err := srp.ParseA(a); err == nil {
			t.Errorf("ParseA(%.20q) accepted", a)
		}
	}
	for _, a := range []string{"1", "2", "00ff", new(big.Int).Add(groupN(), big.NewInt(5)).Text(16)} {
		if _, err := srp.ParseA(a); err != nil {
			t.Errorf("ParseA(%.20q): %v", a, err)
		}
	}
}

func groupN() *big.Int {
	// RFC 5054's 3072-bit N, as amazon-cognito-identity-js spells it.
	n, _ := new(big.Int).SetString(""+
		"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"+
		"020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"+
		"4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"+
		"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"+
		"98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"+
		"9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"+
		"E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"+
		"3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33"+
		"A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"+
		"ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864"+
		"D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2"+
		"08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF", 16)
	return n
}

func TestPadHex(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "00", 20: "14", 236: "00ec", 200: "00c8", 56: "38", 0x7fff: "7fff", 0x8000: "008000"} {
		if got := srp.PadHex(big.NewInt(n)); got != want {
			t.Errorf("PadHex(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestTimestamp(t *testing.T) {
	t.Parallel()
	ts := srp.FormatTimestamp(time.Date(2026, 12, 6, 9, 5, 1, 0, time.UTC))
	if ts != "Sun Dec 6 09:05:01 UTC 2026" {
		t.Fatalf("FormatTimestamp = %q", ts)
	}
	if got, err := srp.ParseTimestamp(ts); err != nil || !got.Equal(time.Date(2026, 12, 6, 9, 5, 1, 0, time.UTC)) {
		t.Fatalf("ParseTimestamp(%q) = %v, %v", ts, got, err)
	}
	for _, bad := range []string{"", "2026-12-06T09:05:01Z", "Sun Dec 6 09:05:01 GMT 2026", "Sun Dec 6 09:05:01 UTC 2026 ", strings.Repeat("x", 100)} {
		if _, err := srp.ParseTimestamp(bad); err == nil {
			t.Errorf("ParseTimestamp(%q) accepted", bad)
		}
	}
}

func TestPoolName(t *testing.T) {
	t.Parallel()
	if got := srp.PoolName("us-east-1_AbCdEf123"); got != "AbCdEf123" {
		t.Fatalf("PoolName = %q", got)
	}
}
