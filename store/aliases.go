package store

import "context"

// Sign-in alias kinds: what a user may sign in with besides the email
// address, as Cognito's username attributes and aliases.
const (
	// AliasUsername is the preferred_username attribute, found by its
	// folded form (FoldUsername).
	AliasUsername = "username"
	// AliasPhone is the phone_number attribute while
	// phone_number_verified is "true", found as stored (E.164).
	AliasPhone = "phone"
)

// The attributes the aliases are kept from.
const (
	attrUsername      = "preferred_username"
	attrPhone         = "phone_number"
	attrPhoneVerified = "phone_number_verified"
)

// FoldUsername is the form a username is unique in and found by: ASCII
// letters lower-cased, every other byte kept. The pool admits ASCII
// usernames only, so this is full case folding for them, and the same in
// Go and in either database.
func FoldUsername(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// AliasKeys returns the keys a user with attrs is found by, for the kinds
// on: "" for none.
func AliasKeys(attrs map[string]string, username, phone bool) (usernameKey, phoneKey string) {
	if username {
		usernameKey = FoldUsername(attrs[attrUsername])
	}
	if phone && attrs[attrPhoneVerified] == "true" {
		phoneKey = attrs[attrPhone]
	}
	return usernameKey, phoneKey
}

// AliasTouched reports which keys an update of the attributes named may
// change.
func AliasTouched(names ...string) (username, phone bool) {
	for _, n := range names {
		switch n {
		case attrUsername:
			username = true
		case attrPhone, attrPhoneVerified:
			phone = true
		}
	}
	return username, phone
}

// AliasStore finds users by their sign-in aliases. Which kinds a store
// keeps is the pool's choice, told once when it opens; every write of a
// user's attributes then keeps the keys of those kinds in the same
// transaction, unique per kind: CreateUser, CreateUserWithIdentity and
// UpdateUser return ErrConflict for a key another user has (ImportUsers
// leaves the newcomer without it).
type AliasStore interface {
	// KeepAliases sets the kinds kept (AliasUsername, AliasPhone; none
	// for a pool that signs in with the email alone) and brings the keys
	// in line: a kind off is found no more (and a write of its attribute
	// clears the user's key); a kind on fills in the keys of users without
	// one, oldest user first, once after it was off. It returns the ids
	// of the users left without a key because an older user has it.
	// Call it before the store is shared; every instance on a store must
	// keep the same kinds.
	KeepAliases(ctx context.Context, kinds []string) (skipped []string, err error)
	// UserByAlias returns the user whose key of kind is key, or
	// ErrNotFound (also for a kind not kept).
	UserByAlias(ctx context.Context, kind, key string) (*User, error)
}
