package transfer_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/postgres"
	"github.com/gatehouse-auth/gatehouse/store/sqlite/sqlitetest"
	"github.com/gatehouse-auth/gatehouse/transfer"
)

var fast = pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

func newPool(t *testing.T, s store.Store) *pool.Pool {
	t.Helper()
	p, err := pool.New(t.Context(), s, pool.Config{Name: "test", Hash: fast})
	if err != nil {
		t.Fatalf("pool.New: %v", err)
	}
	return p
}

func sqlitePool(t *testing.T) *pool.Pool {
	return newPool(t, sqlitetest.Open(t, filepath.Join(t.TempDir(), "g.db")))
}

func postgresPool(t *testing.T) *pool.Pool {
	s, err := postgres.Open(t.Context(), testenv.PostgresDSN(t))
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return newPool(t, s)
}

// Firebase's published example (github.com/firebase/scrypt's README).
var firebase = func() *pool.FirebaseScryptParams {
	signer, _ := base64.StdEncoding.DecodeString("jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==")
	return &pool.FirebaseScryptParams{SignerKey: signer, SaltSeparator: []byte{7}, Rounds: 8, MemCost: 14}
}()

const (
	firebaseUser = `{"user":{"email":"fire@example.com","email_verified":true,"firebase_scrypt":{"hash":"lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==","salt":"42xEC+ixf3L2lw=="}}}`
	firebasePass = "user1password"
)

func mustImport(t *testing.T, p *pool.Pool, file string, opts transfer.ReadOptions) transfer.Result {
	t.Helper()
	plan, err := transfer.ReadJSONL(strings.NewReader(file), opts)
	if err != nil {
		t.Fatalf("ReadJSONL: %v", err)
	}
	res, err := transfer.Import(t.Context(), p, plan, transfer.ImportOptions{Batch: 2})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	return res
}

// seedSource fills a pool with one of everything an export carries.
func seedSource(t *testing.T, p *pool.Pool) (totp []byte) {
	ctx := t.Context()
	st := p.Store()
	prec := 3
	if err := st.CreateGroup(ctx, &store.Group{Name: "admins", Description: "Runs the place", Precedence: &prec}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateClient(ctx, &store.Client{ID: "app", Name: "App", SecretHash: "$argon2id$client", RedirectURIs: []string{"https://app.example/cb"},
		Scopes: []string{"openid"}, GrantTypes: []string{"authorization_code"}, AccessTokenTTL: time.Hour, RefreshTokenRotation: "on"}); err != nil {
		t.Fatal(err)
	}
	bc, _ := bcrypt.GenerateFromPassword([]byte("bcrypt password"), 4)
	mustImport(t, p, `{"user":{"id":"u-bcrypt","email":"bc@example.com","email_verified":true,"name":"Bea Crypt","password_hash":"`+string(bc)+`","attributes":{"given_name":"Bea","custom:tenant":"acme"},"groups":["admins","staff"]}}
`+firebaseUser+`
{"user":{"id":"u-fed","email":"fed@example.com","status":"EXTERNAL_PROVIDER","identities":[{"provider":"github","provider_type":"OIDC","issuer":"https://github.com","subject":"1234","primary":true}]}}
{"user":{"id":"u-off","email":"off@example.com","password_hash":"`+string(bc)+`","enabled":false}}`, transfer.ReadOptions{Firebase: firebase})
	totp = []byte("0123456789abcdefghij")
	f := store.MFAFactor{ID: "totp-1", UserID: "u-bcrypt", Kind: store.FactorTOTP, Name: "Phone", Confirmed: true, LastStep: 42, CreatedAt: time.Now().Truncate(time.Second)}
	f.Secret = p.SealFactorSecret(f, totp)
	if err := st.AddMFAFactor(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := st.AddMFAFactor(ctx, store.MFAFactor{ID: "cred-1", UserID: "u-bcrypt", Kind: store.FactorWebAuthn, Name: "Key", Secret: []byte(`{"public_key":"AQID"}`), Confirmed: true}); err != nil {
		t.Fatal(err)
	}
	return totp
}

func allUsers(t *testing.T, st store.Store) []*store.User {
	us, err := st.ListUsers(t.Context(), store.ListOptions{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return us
}

// TestRoundTripSQLiteToPostgres moves a pool from SQLite to PostgreSQL
// through an export with secrets, and checks nothing was lost.
func TestRoundTripSQLiteToPostgres(t *testing.T) {
	ctx := t.Context()
	src := sqlitePool(t)
	totp := seedSource(t, src)
	var file bytes.Buffer
	passphrase := []byte("correct horse moving day")
	stats, err := transfer.Export(ctx, src, &file, transfer.ExportOptions{WithSecrets: true, Passphrase: passphrase})
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	if stats.Users != 4 || stats.Groups != 2 || stats.Clients != 1 {
		t.Errorf("export stats = %+v", stats)
	}
	if bytes.Contains(file.Bytes(), totp) || bytes.Contains(file.Bytes(), []byte(base64.StdEncoding.EncodeToString(totp))) {
		t.Error("the TOTP secret is in the file in the clear")
	}

	dst := postgresPool(t)
	plan, err := transfer.ReadJSONL(bytes.NewReader(file.Bytes()), transfer.ReadOptions{Passphrase: passphrase})
	if err != nil {
		t.Fatalf("ReadJSONL: %v", err)
	}
	res, err := transfer.Import(ctx, dst, plan, transfer.ImportOptions{})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if res.UsersCreated != 4 || res.GroupsCreated != 2 || res.ClientsCreated != 1 {
		t.Errorf("import result = %+v", res)
	}

	before, after := allUsers(t, src.Store()), allUsers(t, dst.Store())
	if len(before) != len(after) {
		t.Fatalf("%d users before, %d after", len(before), len(after))
	}
	for i := range before {
		b, a := before[i], after[i]
		// Stores keep whole microseconds (SQLite more, PostgreSQL no more).
		if !b.CreatedAt.Truncate(time.Microsecond).Equal(a.CreatedAt) || !b.UpdatedAt.Truncate(time.Microsecond).Equal(a.UpdatedAt) {
			t.Errorf("%s dates %v/%v became %v/%v", b.ID, b.CreatedAt, b.UpdatedAt, a.CreatedAt, a.UpdatedAt)
		}
		for _, u := range []*store.User{a, b} {
			u.CreatedAt, u.UpdatedAt = time.Time{}, time.Time{}
			for j := range u.Identities {
				u.Identities[j].CreatedAt = u.Identities[j].CreatedAt.Truncate(time.Microsecond).UTC()
			}
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("user moved changed:\nbefore %+v\n after %+v", b, a)
		}
	}
	g, err := dst.Store().GroupByName(ctx, "admins")
	if err != nil || g.Description != "Runs the place" || g.Precedence == nil || *g.Precedence != 3 {
		t.Errorf("group admins = %+v, %v", g, err)
	}
	c, err := dst.Store().ClientByID(ctx, "app")
	if err != nil || c.SecretHash != "$argon2id$client" || c.AccessTokenTTL != time.Hour || c.RefreshTokenRotation != "on" || !slices.Equal(c.RedirectURIs, []string{"https://app.example/cb"}) {
		t.Errorf("client app = %+v, %v", c, err)
	}
	fs, err := dst.Store().MFAFactors(ctx, "u-bcrypt")
	if err != nil || len(fs) != 2 {
		t.Fatalf("factors = %+v, %v", fs, err)
	}
	for _, f := range fs {
		plain, err := dst.FactorSecret(ctx, f)
		switch f.Kind {
		case store.FactorTOTP:
			// Sealed again under the target pool's own key, which differs.
			if err != nil || !bytes.Equal(plain, totp) || f.LastStep != 42 || !f.Confirmed {
				t.Errorf("TOTP factor = %+v, secret %q, %v", f, plain, err)
			}
			if _, err := src.FactorSecret(ctx, f); err == nil {
				t.Error("the target's sealed TOTP secret opens with the source's key: it was not sealed again")
			}
		case store.FactorWebAuthn:
			if string(plain) != `{"public_key":"AQID"}` {
				t.Errorf("passkey record = %q", plain)
			}
		}
	}

	// Signing in upgrades the imported hashes to the target's argon2id.
	for _, c := range []struct{ email, password string }{{"bc@example.com", "bcrypt password"}, {"fire@example.com", firebasePass}} {
		u, err := dst.SignIn(ctx, c.email, c.password)
		if err != nil {
			t.Fatalf("SignIn(%s): %v", c.email, err)
		}
		u, _ = dst.User(ctx, u.ID)
		if !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
			t.Errorf("%s hash after sign-in = %.12s..., want argon2id", c.email, u.PasswordHash)
		}
		if _, err := dst.SignIn(ctx, c.email, c.password); err != nil {
			t.Errorf("second SignIn(%s) with the upgraded hash: %v", c.email, err)
		}
	}
	if _, err := dst.SignIn(ctx, "off@example.com", "bcrypt password"); !errors.Is(err, pool.ErrUserDisabled) {
		t.Errorf("disabled user signs in: %v", err)
	}

	// The same file again: nothing to do.
	res, err = transfer.Import(ctx, dst, plan, transfer.ImportOptions{})
	if err != nil || res.UsersCreated != 0 || res.UsersSkipped != 4 || res.GroupsCreated != 0 || res.ClientsCreated != 0 {
		t.Errorf("re-run = %+v, %v; want everything skipped", res, err)
	}
	if u, _ := dst.User(ctx, "u-bcrypt"); !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Error("re-run put the old hash back")
	}
}

func TestExportWithoutSecrets(t *testing.T) {
	ctx := t.Context()
	src := sqlitePool(t)
	seedSource(t, src)
	var file bytes.Buffer
	if _, err := transfer.Export(ctx, src, &file, transfer.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(file.Bytes(), []byte("password_hash")) || bytes.Contains(file.Bytes(), []byte(`"totp"`)) || !bytes.Contains(file.Bytes(), []byte(`"webauthn"`)) {
		t.Errorf("export without secrets:\n%s", file.String())
	}
	if _, err := transfer.Export(ctx, src, &bytes.Buffer{}, transfer.ExportOptions{WithSecrets: true}); err == nil {
		t.Error("export with secrets and no passphrase accepted")
	}
	dst := sqlitePool(t)
	mustImport(t, dst, file.String(), transfer.ReadOptions{})
	u, err := dst.UserByEmail(ctx, "bc@example.com")
	if err != nil || u.Status != store.StatusResetRequired || u.PasswordHash != "" {
		t.Errorf("user without a hash = %+v, %v; want RESET_REQUIRED", u, err)
	}
	if u, _ := dst.UserByEmail(ctx, "fed@example.com"); u.Status != store.StatusExternalProvider {
		t.Errorf("federated user status = %s", u.Status)
	}
}

func TestWrongPassphraseWritesNothing(t *testing.T) {
	ctx := t.Context()
	src := sqlitePool(t)
	seedSource(t, src)
	var file bytes.Buffer
	if _, err := transfer.Export(ctx, src, &file, transfer.ExportOptions{WithSecrets: true, Passphrase: []byte("right")}); err != nil {
		t.Fatal(err)
	}
	for _, pass := range []string{"wrong", ""} {
		_, err := transfer.ReadJSONL(bytes.NewReader(file.Bytes()), transfer.ReadOptions{Passphrase: []byte(pass)})
		var le *transfer.LineError
		if !errors.As(err, &le) {
			t.Errorf("passphrase %q: err = %v, want a line error", pass, err)
		}
	}
}

const csvHeader = "cognito:username,name,given_name,family_name,middle_name,nickname,preferred_username,profile,picture,website,email,email_verified,gender,birthdate,zoneinfo,locale,phone_number,phone_number_verified,address,updated_at,cognito:mfa_enabled,custom:tenant\n"

func csvRow(username, email, verified, mfa string) string {
	return username + ",Jane Doe,Jane,Doe,,,jdoe,,,," + email + "," + verified + ",,,,en-US,+15555550100,false,,1700000000," + mfa + ",acme\n"
}

func TestCognitoCSV(t *testing.T) {
	ctx := t.Context()
	p := sqlitePool(t)
	file := csvHeader + csvRow("jane", "Jane@Example.com", "true", "false") + csvRow("john", "john@example.com", "TRUE", "true")
	// The header's columns in Cognito's own order, as GetCSVHeader gives them.
	cognitoOrder := strings.Join(transfer.CognitoCSVHeader, ",") + "\n" + ",,,,,,,,,ann@example.com,true,,,,,,,,,false,ann\n"
	for _, f := range []string{file, cognitoOrder} {
		plan, err := transfer.ReadCognitoCSV(strings.NewReader(f))
		if err != nil {
			t.Fatalf("ReadCognitoCSV: %v", err)
		}
		if _, err := transfer.Import(ctx, p, plan, transfer.ImportOptions{}); err != nil {
			t.Fatalf("Import: %v", err)
		}
	}
	u, err := p.User(ctx, "jane")
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "jane@example.com" || u.Status != store.StatusResetRequired || u.PasswordHash != "" || !u.EmailVerified ||
		u.Name != "Jane Doe" || u.Attributes["given_name"] != "Jane" || u.Attributes["custom:tenant"] != "acme" ||
		u.Attributes["phone_number"] != "+15555550100" || u.Attributes["locale"] != "en-US" {
		t.Errorf("imported user = %+v", u)
	}
	if _, err := p.User(ctx, "ann"); err != nil {
		t.Errorf("user of a file in Cognito's column order: %v", err)
	}
	// Whatever the password, the answer is Cognito's: reset first.
	for _, pw := range []string{"", "anything at all"} {
		if _, err := p.SignIn(ctx, "jane@example.com", pw); !errors.Is(err, pool.ErrPasswordResetRequired) {
			t.Errorf("SignIn = %v, want ErrPasswordResetRequired", err)
		}
	}
	// A user imported without a password otherwise fails as any other.
	if _, err := p.SignIn(ctx, "nobody@example.com", "x"); !errors.Is(err, pool.ErrInvalidCredentials) {
		t.Errorf("unknown user: %v", err)
	}
}

// TestBadFilesNameTheLineAndWriteNothing feeds files with one bad line
// after good ones: the error names that line and the pool stays empty.
func TestBadFilesNameTheLineAndWriteNothing(t *testing.T) {
	ctx := t.Context()
	good := `{"user":{"email":"a@example.com","password_hash":"$2a$04$abcdefghijklmnopqrstuu5hQ1n9k6G9r7nqSxY6o3ZJ6p5LzK2x6"}}` + "\n" +
		`{"group":{"name":"g1"}}` + "\n"
	jsonl := []struct {
		name, bad string
		opts      transfer.ReadOptions
	}{
		{"not json", `{"user":`, transfer.ReadOptions{}},
		{"two objects on a line", `{"user":{"email":"b@example.com"}} {"user":{"email":"c@example.com"}}`, transfer.ReadOptions{}},
		{"unknown field", `{"user":{"email":"b@example.com","pasword_hash":"x"}}`, transfer.ReadOptions{}},
		{"two kinds", `{"user":{"email":"b@example.com"},"group":{"name":"x"}}`, transfer.ReadOptions{}},
		{"bad email", `{"user":{"email":"not an email"}}`, transfer.ReadOptions{}},
		{"same email", `{"user":{"email":"A@example.com"}}`, transfer.ReadOptions{}},
		{"plain password", `{"user":{"email":"b@example.com","password_hash":"hunter2"}}`, transfer.ReadOptions{}},
		{"bcrypt too dear", `{"user":{"email":"b@example.com","password_hash":"$2b$20$abcdefghijklmnopqrstuu5hQ1n9k6G9r7nqSxY6o3ZJ6p5LzK2x6"}}`, transfer.ReadOptions{}},
		{"scrypt too dear", `{"user":{"email":"b@example.com","password_hash":"$scrypt$ln=24,r=8,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}`, transfer.ReadOptions{}},
		{"firebase without parameters", firebaseUser, transfer.ReadOptions{}},
		{"unknown status", `{"user":{"email":"b@example.com","status":"ROOT"}}`, transfer.ReadOptions{}},
		{"unknown attribute", `{"user":{"email":"b@example.com","attributes":{"is_admin":"true"}}}`, transfer.ReadOptions{}},
		{"totp without secrets header", `{"user":{"email":"b@example.com","factors":[{"id":"f","kind":"totp","secret":"AAAA"}]}}`, transfer.ReadOptions{}},
		{"late header", `{"format":"gatehouse-users","version":1,"exported_at":"2026-01-01T00:00:00Z"}`, transfer.ReadOptions{}},
		{"group twice", `{"group":{"name":"g1"}}`, transfer.ReadOptions{}},
		{"confidential client without hash", `{"client":{"id":"c"}}`, transfer.ReadOptions{}},
	}
	for _, c := range jsonl {
		t.Run(c.name, func(t *testing.T) {
			_, err := transfer.ReadJSONL(strings.NewReader(good+c.bad+"\n"+good), c.opts)
			var le *transfer.LineError
			if !errors.As(err, &le) || le.Line != 3 {
				t.Fatalf("err = %v, want one naming line 3", err)
			}
		})
	}
	csvs := []struct{ name, file string }{
		{"missing column", strings.Replace(csvHeader, "gender,", "", 1) + csvRow("a", "a@example.com", "true", "false")},
		{"unknown column", strings.Replace(csvHeader, "gender", "shoe_size", 1) + csvRow("a", "a@example.com", "true", "false")},
		{"email not verified", csvHeader + csvRow("a", "a@example.com", "true", "false") + csvRow("b", "b@example.com", "false", "false")},
		{"no username", csvHeader + csvRow("a", "a@example.com", "true", "false") + csvRow("", "b@example.com", "true", "false")},
		{"no mfa_enabled", csvHeader + csvRow("a", "a@example.com", "true", "false") + csvRow("b", "b@example.com", "true", "")},
		{"same username", csvHeader + csvRow("a", "a@example.com", "true", "false") + csvRow("a", "b@example.com", "true", "false")},
		{"short row", csvHeader + csvRow("a", "a@example.com", "true", "false") + "b,b@example.com\n"},
	}
	wantLine := map[string]int{"missing column": 1, "unknown column": 1}
	for _, c := range csvs {
		t.Run("csv "+c.name, func(t *testing.T) {
			_, err := transfer.ReadCognitoCSV(strings.NewReader(c.file))
			want := 3
			if n, ok := wantLine[c.name]; ok {
				want = n
			}
			var le *transfer.LineError
			if !errors.As(err, &le) || le.Line != want {
				t.Fatalf("err = %v, want one naming line %d", err, want)
			}
		})
	}

	// A conflict with the pool is found before anything is written.
	p := sqlitePool(t)
	if _, err := p.Store().ImportUsers(ctx, []store.ImportedUser{{User: &store.User{ID: "old", Email: "taken@example.com", Status: store.StatusConfirmed, Enabled: true}}}); err != nil {
		t.Fatal(err)
	}
	var file strings.Builder
	for i := range 7 {
		fmt.Fprintf(&file, `{"user":{"email":"u%d@example.com","groups":["new-group"]}}`+"\n", i)
	}
	file.WriteString(`{"user":{"email":"taken@example.com"}}` + "\n")
	plan, err := transfer.ReadJSONL(strings.NewReader(`{"group":{"name":"made-first"}}`+"\n"+file.String()), transfer.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = transfer.Import(ctx, p, plan, transfer.ImportOptions{Batch: 2})
	var le *transfer.LineError
	if !errors.As(err, &le) || le.Line != 9 {
		t.Fatalf("err = %v, want one naming line 9", err)
	}
	if us := allUsers(t, p.Store()); len(us) != 1 {
		t.Errorf("%d users after a refused import, want the 1 there before", len(us))
	}
	if _, err := p.Store().GroupByName(ctx, "made-first"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("group of a refused import: %v", err)
	}
}

// TestFailedWriteIsUndone: a conflict that only the store sees (a user
// who signed up after the check) rolls back the batches written before.
func TestFailedWriteIsUndone(t *testing.T) {
	ctx := t.Context()
	p := sqlitePool(t)
	var file strings.Builder
	for i := range 6 {
		fmt.Fprintf(&file, `{"user":{"email":"u%d@example.com","groups":["g"]}}`+"\n", i)
	}
	plan, err := transfer.ReadJSONL(strings.NewReader(`{"group":{"name":"g"}}`+"\n"+file.String()), transfer.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Taken after the file was read: Import's own check sees it, so to
	// reach the store's, take the email from a store wrapper mid-import.
	racer := &racingStore{Store: p.Store(), after: 2, take: "u5@example.com"}
	rp, err := pool.New(ctx, racer, pool.Config{Name: "test", Hash: fast})
	if err != nil {
		t.Fatal(err)
	}
	_, err = transfer.Import(ctx, rp, plan, transfer.ImportOptions{Batch: 2})
	var le *transfer.LineError
	if !errors.As(err, &le) || le.Line != 7 {
		t.Fatalf("err = %v, want one naming line 7", err)
	}
	if us := allUsers(t, p.Store()); len(us) != 1 || us[0].Email != "u5@example.com" {
		t.Errorf("after the failed import: %d users, want only the one who signed up", len(us))
	}
	if _, err := p.Store().GroupByName(ctx, "g"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("group g of a failed import: %v", err)
	}
}

// racingStore signs a user up (with a planned email) after a number of
// ImportUsers calls: the real store, a real race's timing.
type racingStore struct {
	store.Store
	calls, after int
	take         string
}

func (r *racingStore) ImportUsers(ctx context.Context, users []store.ImportedUser) ([]string, error) {
	r.calls++
	if r.calls == r.after+1 {
		if err := r.Store.CreateUser(ctx, &store.User{ID: "racer", Email: r.take, Status: store.StatusConfirmed, Enabled: true}); err != nil {
			return nil, err
		}
	}
	return r.Store.ImportUsers(ctx, users)
}
