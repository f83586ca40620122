package pool

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// HashParams are argon2id's cost parameters. They are written into every hash
// (PHC string format), so raising them later leaves old hashes verifiable, and
// a sign-in with an old hash upgrades it.
type HashParams struct {
	// MemoryKiB is the memory cost in KiB.
	MemoryKiB uint32 `json:"memory_kib,omitempty"`
	// Iterations is the time cost.
	Iterations uint32 `json:"iterations,omitempty"`
	// Parallelism is the number of lanes.
	Parallelism uint8 `json:"parallelism,omitempty"`
}

// DefaultHashParams follow OWASP's argon2id baseline (19 MiB, t=2, p=1).
var DefaultHashParams = HashParams{MemoryKiB: 19 * 1024, Iterations: 2, Parallelism: 1}

const (
	saltLen = 16
	keyLen  = 32
	// maxHashMemoryKiB bounds what a stored hash may ask for, so a tampered
	// or corrupt row cannot make one verification allocate gigabytes.
	maxHashMemoryKiB = 1 << 21 // 2 GiB
	maxIterations    = 64
)

// ErrMalformedHash means a stored hash is not an argon2id PHC string this
// package can verify.
var ErrMalformedHash = errors.New("pool: malformed password hash")

// Hasher hashes and verifies passwords with argon2id, running at most a fixed
// number of hashes at once so that a burst of sign-ins queues instead of
// exhausting memory.
type Hasher struct {
	params HashParams
	slots  chan struct{}
}

// NewHasher returns a Hasher with the given parameters (zero fields take the
// defaults) that runs at most concurrency hashes at once; concurrency <= 0
// means one per CPU.
func NewHasher(params HashParams, concurrency int) (*Hasher, error) {
	if params.MemoryKiB == 0 {
		params.MemoryKiB = DefaultHashParams.MemoryKiB
	}
	if params.Iterations == 0 {
		params.Iterations = DefaultHashParams.Iterations
	}
	if params.Parallelism == 0 {
		params.Parallelism = DefaultHashParams.Parallelism
	}
	if params.MemoryKiB < 8*uint32(params.Parallelism) || params.MemoryKiB > maxHashMemoryKiB {
		return nil, fmt.Errorf("argon2id memory %d KiB out of range (8*parallelism to %d)", params.MemoryKiB, maxHashMemoryKiB)
	}
	if params.Iterations > maxIterations {
		return nil, fmt.Errorf("argon2id iterations %d out of range (1 to %d)", params.Iterations, maxIterations)
	}
	if concurrency <= 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	return &Hasher{params: params, slots: make(chan struct{}, concurrency)}, nil
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() HashParams { return h.params }

// acquire waits for a hashing slot or for ctx to end.
func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.slots }

// Hash returns the PHC string for password with a fresh random salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, h.params.Iterations, h.params.MemoryKiB, h.params.Parallelism, keyLen)
	h.release()
	return encodePHC(h.params, salt, key), nil
}

// Verify reports whether password matches encoded, and whether encoded was
// made with weaker parameters (less memory, fewer iterations, a shorter salt
// or key) than the hasher's and should be replaced.
//
// A hash of another system (foreignhash.go) is verified by its own
// algorithm and is always stale: the first right password replaces it.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, stale bool, err error) {
	if !strings.HasPrefix(encoded, "$argon2id$") {
		return h.verifyForeign(ctx, password, encoded)
	}
	params, salt, want, err := decodePHC(encoded)
	if err != nil {
		return false, false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, params.Iterations, params.MemoryKiB, params.Parallelism, uint32(len(want)))
	h.release()
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	// Only weaker hashes are replaced: a gateway configured with lower costs
	// must not downgrade a hash another one made stronger.
	stale = params.MemoryKiB < h.params.MemoryKiB || params.Iterations < h.params.Iterations ||
		len(want) < keyLen || len(salt) < saltLen
	return true, stale, nil
}

// verifyForeign checks password against a hash of another system, in one
// of the hashing slots as argon2id's checks are.
func (h *Hasher) verifyForeign(ctx context.Context, password, encoded string) (ok, stale bool, err error) {
	f, err := parseForeign(encoded)
	if err != nil {
		return false, false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	ok = f.matches(password)
	h.release()
	return ok, ok, nil
}

var b64 = base64.RawStdEncoding

func encodePHC(p HashParams, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decodePHC parses "$argon2id$v=19$m=...,t=...,p=...$salt$hash".
func decodePHC(s string) (HashParams, []byte, []byte, error) {
	return decodePHCVariant(s, "argon2id")
}

// decodePHCVariant parses the PHC string of one argon2 variant.
func decodePHCVariant(s, variant string) (HashParams, []byte, []byte, error) {
	var p HashParams
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != variant {
		return p, nil, nil, ErrMalformedHash
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, ErrMalformedHash
	}
	for _, kv := range strings.Split(parts[3], ",") {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			return p, nil, nil, ErrMalformedHash
		}
		n, err := strconv.ParseUint(value, 10, 32)
		if err != nil {
			return p, nil, nil, ErrMalformedHash
		}
		switch name {
		case "m":
			p.MemoryKiB = uint32(n)
		case "t":
			p.Iterations = uint32(n)
		case "p":
			if n > 255 {
				return p, nil, nil, ErrMalformedHash
			}
			p.Parallelism = uint8(n)
		default:
			return p, nil, nil, ErrMalformedHash
		}
	}
	if p.Iterations == 0 || p.Iterations > maxIterations || p.Parallelism == 0 ||
		p.MemoryKiB < 8*uint32(p.Parallelism) || p.MemoryKiB > maxHashMemoryKiB {
		return p, nil, nil, ErrMalformedHash
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, ErrMalformedHash
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, ErrMalformedHash
	}
	return p, salt, key, nil
}
