package pool

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

// fastParams keep argon2id cheap in tests that are not about its cost.
var fastParams = HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

func newFastHasher(t testing.TB, concurrency int) *Hasher {
	t.Helper()
	h, err := NewHasher(fastParams, concurrency)
	if err != nil {
		t.Fatalf("NewHasher: %v", err)
	}
	return h
}

// phcFor builds a PHC string by hand, for hashes this package would not make
// itself (other key or salt lengths).
func phcFor(t testing.TB, password string, p HashParams, saltBytes, keyBytes int) string {
	t.Helper()
	salt := make([]byte, saltBytes)
	if _, err := rand.Read(salt); err != nil {
		t.Fatal(err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(keyBytes))
	return encodePHC(p, salt, key)
}

func TestHashVerifyRoundTrip(t *testing.T) {
	ctx := t.Context()
	h := newFastHasher(t, 1)
	const pw = "correct horse battery staple"

	enc, err := h.Hash(ctx, pw)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	ok, stale, err := h.Verify(ctx, pw, enc)
	if err != nil || !ok || stale {
		t.Fatalf("Verify(right password) = ok %v, stale %v, err %v; want true, false, nil", ok, stale, err)
	}

	for _, wrong := range []string{"", "correct horse battery stapl", "Correct horse battery staple", pw + " "} {
		ok, stale, err := h.Verify(ctx, wrong, enc)
		if err != nil || ok || stale {
			t.Errorf("Verify(%q) = ok %v, stale %v, err %v; want false, false, nil", wrong, ok, stale, err)
		}
	}

	// A fresh salt per hash: the same password never gives the same string.
	enc2, err := h.Hash(ctx, pw)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	if enc2 == enc {
		t.Errorf("two hashes of one password are identical: %s", enc)
	}
}

func TestHashPHCFormat(t *testing.T) {
	params := HashParams{MemoryKiB: 96, Iterations: 3, Parallelism: 2}
	h, err := NewHasher(params, 1)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := h.Hash(t.Context(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	// 16-byte salt and 32-byte key in unpadded standard base64.
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=96,t=3,p=2\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !re.MatchString(enc) {
		t.Fatalf("hash %q is not the expected PHC string", enc)
	}
	got, salt, key, err := decodePHC(enc)
	if err != nil {
		t.Fatalf("decodePHC: %v", err)
	}
	if got != params {
		t.Errorf("parsed params %+v, want %+v", got, params)
	}
	if len(salt) != saltLen || len(key) != keyLen {
		t.Errorf("salt %d bytes, key %d bytes; want %d, %d", len(salt), len(key), saltLen, keyLen)
	}
	if h.Params() != params {
		t.Errorf("Params() = %+v, want %+v", h.Params(), params)
	}
}

func TestVerifyStale(t *testing.T) {
	ctx := t.Context()
	const pw = "an older password"
	cur := HashParams{MemoryKiB: 64, Iterations: 2, Parallelism: 1}
	current, err := NewHasher(cur, 2)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		encoded   string
		wantStale bool
	}{
		{"current params", phcFor(t, pw, cur, saltLen, keyLen), false},
		{"less memory", phcFor(t, pw, HashParams{MemoryKiB: 32, Iterations: 2, Parallelism: 1}, saltLen, keyLen), true},
		{"fewer iterations", phcFor(t, pw, HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, saltLen, keyLen), true},
		// Lanes change how the work is split, not how much there is.
		{"other lanes", phcFor(t, pw, HashParams{MemoryKiB: 64, Iterations: 2, Parallelism: 2}, saltLen, keyLen), false},
		// Never downgrade a hash another, stronger configuration made.
		{"more memory", phcFor(t, pw, HashParams{MemoryKiB: 128, Iterations: 2, Parallelism: 1}, saltLen, keyLen), false},
		{"more iterations", phcFor(t, pw, HashParams{MemoryKiB: 64, Iterations: 3, Parallelism: 1}, saltLen, keyLen), false},
		{"short salt", phcFor(t, pw, cur, 8, keyLen), true},
		{"short key", phcFor(t, pw, cur, saltLen, 16), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, stale, err := current.Verify(ctx, pw, tt.encoded)
			if err != nil || !ok {
				t.Fatalf("Verify(right password) = ok %v, err %v; an old hash must still verify", ok, err)
			}
			if stale != tt.wantStale {
				t.Errorf("stale = %v, want %v", stale, tt.wantStale)
			}
			// Staleness is only reported for the right password.
			ok, stale, err = current.Verify(ctx, "wrong", tt.encoded)
			if err != nil || ok || stale {
				t.Errorf("Verify(wrong password) = ok %v, stale %v, err %v; want false, false, nil", ok, stale, err)
			}
		})
	}

	// The same check through the hashers: raising the cost makes the hashes
	// made before stale, and they still verify.
	old := newFastHasher(t, 1)
	enc, err := old.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	stronger, err := NewHasher(HashParams{MemoryKiB: 128, Iterations: 2, Parallelism: 1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ok, stale, err := stronger.Verify(ctx, pw, enc); err != nil || !ok || !stale {
		t.Errorf("stronger.Verify(old hash) = ok %v, stale %v, err %v; want true, true, nil", ok, stale, err)
	}
}

func TestVerifyMalformedHash(t *testing.T) {
	const (
		salt = "c2FsdHNhbHRzYWx0c2FsdA"                      // 16 bytes
		key  = "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U" // 32 bytes
	)
	good := "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key
	if _, _, _, err := decodePHC(good); err != nil {
		t.Fatalf("control hash %q does not parse: %v", good, err)
	}

	tests := []struct{ name, encoded string }{
		{"empty", ""},
		// bcrypt and argon2i are verified since imports bring them
		// (foreignhash_test.go); an argon2d hash is not.
		{"argon2d", "$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"uppercase alg", "$ARGON2ID$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"no leading dollar", "argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"version 16", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"version missing", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"version garbage", "$argon2id$v=x$m=64,t=1,p=1$" + salt + "$" + key},
		{"key missing", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"extra field", good + "$" + key},
		{"trailing dollar", good + "$"},
		{"params empty", "$argon2id$v=19$$" + salt + "$" + key},
		{"m missing", "$argon2id$v=19$t=1,p=1$" + salt + "$" + key},
		{"t missing", "$argon2id$v=19$m=64,p=1$" + salt + "$" + key},
		{"p missing", "$argon2id$v=19$m=64,t=1$" + salt + "$" + key},
		{"unknown param", "$argon2id$v=19$m=64,t=1,p=1,x=1$" + salt + "$" + key},
		{"param without value", "$argon2id$v=19$m,t=1,p=1$" + salt + "$" + key},
		{"param not a number", "$argon2id$v=19$m=lots,t=1,p=1$" + salt + "$" + key},
		{"negative param", "$argon2id$v=19$m=-64,t=1,p=1$" + salt + "$" + key},
		{"param overflows uint32", "$argon2id$v=19$m=4294967296,t=1,p=1$" + salt + "$" + key},
		{"absurd memory", "$argon2id$v=19$m=99999999,t=1,p=1$" + salt + "$" + key},
		{"memory just over the cap", fmt.Sprintf("$argon2id$v=19$m=%d,t=1,p=1$%s$%s", maxHashMemoryKiB+1, salt, key)},
		{"memory under 8 per lane", "$argon2id$v=19$m=15,t=1,p=2$" + salt + "$" + key},
		{"t=0", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key},
		{"t over the cap", fmt.Sprintf("$argon2id$v=19$m=64,t=%d,p=1$%s$%s", maxIterations+1, salt, key)},
		{"p=0", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key},
		{"p=256", "$argon2id$v=19$m=4096,t=1,p=256$" + salt + "$" + key},
		{"salt bad base64", "$argon2id$v=19$m=64,t=1,p=1$c2Fs!HNhbHRzYWx0c2FsdA$" + key},
		{"salt padded base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key},
		{"key bad base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$a2V5a2V5*2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"},
		{"salt empty", "$argon2id$v=19$m=64,t=1,p=1$$" + key},
		{"salt 7 bytes", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbA$" + key},
		{"key empty", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$"},
		{"key 15 bytes", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$a2V5a2V5a2V5a2V5a2V5"},
		{"key 65 bytes", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + b64.EncodeToString(make([]byte, 65))},
	}
	h := newFastHasher(t, 1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, stale, err := h.Verify(t.Context(), "password", tt.encoded)
			if !errors.Is(err, ErrMalformedHash) {
				t.Errorf("Verify(%q) error = %v, want ErrMalformedHash", tt.encoded, err)
			}
			if ok || stale {
				t.Errorf("Verify(%q) = ok %v, stale %v; want false, false", tt.encoded, ok, stale)
			}
		})
	}
}

func TestHasherSemaphore(t *testing.T) {
	h := newFastHasher(t, 1)
	enc, err := h.Hash(t.Context(), "pw")
	if err != nil {
		t.Fatal(err)
	}

	// Hold the only slot, as a long hash would.
	if err := h.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	held := true
	defer func() {
		if held {
			h.release()
		}
	}()

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(cancelled, "pw"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash with a cancelled context while the slot is held: err %v, want context.Canceled", err)
	}
	if ok, _, err := h.Verify(cancelled, "pw", enc); ok || !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with a cancelled context while the slot is held: ok %v, err %v, want false, context.Canceled", ok, err)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	if _, err := h.Hash(short, "pw"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Hash that times out waiting for the slot: err %v, want context.DeadlineExceeded", err)
	}

	// A hash with a patient context waits for the slot, then runs.
	done := make(chan error, 1)
	go func() {
		ok, _, err := h.Verify(context.Background(), "pw", enc)
		if err == nil && !ok {
			err = errors.New("right password did not verify")
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Verify ran while the only slot was held (err %v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	held = false
	h.release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Verify after the slot was released: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Verify did not run after the slot was released")
	}
}

func TestHasherConcurrencyBound(t *testing.T) {
	const limit = 3
	h := newFastHasher(t, limit)

	// With every slot taken, one more hash waits; freeing one lets it run.
	for range limit {
		if err := h.acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), "pw")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("a hash ran with all %d slots held (err %v)", limit, err)
	case <-time.After(50 * time.Millisecond):
	}
	h.release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting hash did not run after a slot was freed")
	}
	for range limit - 1 {
		h.release()
	}

	// Many hashes and verifications at once all give their slot back.
	enc, err := h.Hash(context.Background(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8*limit)
	for i := range 8 * limit {
		go func() {
			var err error
			if i%2 == 0 {
				_, err = h.Hash(context.Background(), "pw")
			} else {
				_, _, err = h.Verify(context.Background(), "pw", enc)
			}
			errs <- err
		}()
	}
	for range 8 * limit {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := len(h.slots); n != 0 {
		t.Errorf("%d slots still held after every hash returned", n)
	}
}

func TestNewHasher(t *testing.T) {
	tests := []struct {
		name    string
		params  HashParams
		want    HashParams // when no error
		wantErr string
	}{
		{name: "zero takes the defaults", params: HashParams{}, want: DefaultHashParams},
		{name: "partial takes the rest", params: HashParams{Iterations: 3}, want: HashParams{MemoryKiB: DefaultHashParams.MemoryKiB, Iterations: 3, Parallelism: DefaultHashParams.Parallelism}},
		{name: "minimum memory", params: HashParams{MemoryKiB: 16, Iterations: 1, Parallelism: 2}, want: HashParams{MemoryKiB: 16, Iterations: 1, Parallelism: 2}},
		{name: "maximum memory", params: HashParams{MemoryKiB: maxHashMemoryKiB, Iterations: 1, Parallelism: 1}, want: HashParams{MemoryKiB: maxHashMemoryKiB, Iterations: 1, Parallelism: 1}},
		{name: "maximum iterations", params: HashParams{MemoryKiB: 64, Iterations: maxIterations, Parallelism: 1}, want: HashParams{MemoryKiB: 64, Iterations: maxIterations, Parallelism: 1}},
		{name: "memory under 8 KiB", params: HashParams{MemoryKiB: 7, Iterations: 1, Parallelism: 1}, wantErr: "memory"},
		{name: "memory under 8 KiB per lane", params: HashParams{MemoryKiB: 15, Iterations: 1, Parallelism: 2}, wantErr: "memory"},
		{name: "memory over the cap", params: HashParams{MemoryKiB: maxHashMemoryKiB + 1, Iterations: 1, Parallelism: 1}, wantErr: "memory"},
		{name: "iterations over the cap", params: HashParams{MemoryKiB: 64, Iterations: maxIterations + 1, Parallelism: 1}, wantErr: "iterations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := NewHasher(tt.params, 1)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewHasher(%+v) error = %v, want one about %s", tt.params, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewHasher(%+v): %v", tt.params, err)
			}
			if h.Params() != tt.want {
				t.Errorf("Params() = %+v, want %+v", h.Params(), tt.want)
			}
		})
	}

	for _, c := range []int{0, -1} {
		h, err := NewHasher(fastParams, c)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := cap(h.slots), runtime.GOMAXPROCS(0); got != want {
			t.Errorf("concurrency %d gives %d slots, want GOMAXPROCS = %d", c, got, want)
		}
	}
}
