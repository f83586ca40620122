// Package bigstore names the users of the big benchmark store, so that the
// program that builds it (bench/cmd/bigstore) and the benchmarks that read
// it (bench/bigstore_test.go) agree without storing a list of a million ids.
package bigstore

import (
	"crypto/sha256"
	"fmt"

	"github.com/google/uuid"
)

// Password is every big-store user's password.
const Password = "bench password, not a secret"

// UserEmail is user i's email. Emails sort in i's order, as sign-up order
// would not; the index is a B-tree either way.
func UserEmail(i int) string { return fmt.Sprintf("user%07d@bench.example", i) }

// UserID is user i's id: a version 4 UUID derived from i, so ids are spread
// over the key space as real random ids are (inserts and lookups land on
// random pages of the primary key index), yet recomputable.
func UserID(i int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "gatehouse bigstore user %d", i))
	id, _ := uuid.FromBytes(sum[:16]) // 16 bytes: cannot fail
	id[6] = id[6]&0x0f | 0x40         // version 4
	id[8] = id[8]&0x3f | 0x80         // RFC 4122 variant
	return id.String()
}
