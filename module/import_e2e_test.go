package module_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/module"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store/sqlite/sqlitetest"
	"github.com/gatehouse-auth/gatehouse/transfer"
)

// TestImportedUsersSignIn imports users with a bcrypt and a Firebase
// scrypt hash, and one from Cognito's CSV, into a pool Caddy serves: the
// first two sign in on the hosted page and through the Cognito API
// (their hashes argon2id afterwards), the third is sent to reset by email
// on both and then signs in with the password they chose.
func TestImportedUsersSignIn(t *testing.T) {
	smtp := testenv.StartSMTP(t, testenv.SMTPOptions{})
	up := testenv.StartUpstream(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "gatehouse.db")
	sqlitetest.Seed(t, db)
	idp, app := testenv.FreePort(t), testenv.FreePort(t)
	text := fmt.Sprintf(`{
	default_bind 127.0.0.1
	gatehouse {
		pool default {
			store sqlite %s
			issuer http://127.0.0.1:%d
			%s
			mail %s {
				from "Example Corp <no-reply@example.com>"
				timeout 2s
			}
			cognito {
				pool_id us-east-1_Import1
			}
			client spa {
				public
				redirect_uri https://spa.example.test/cb
				auth_flows ALLOW_USER_PASSWORD_AUTH
			}
		}
	}
}

http://127.0.0.1:%d {
	gatehouse_idp {
		pool default
	}
	respond "issuer home"
}

http://127.0.0.1:%d {
	gatehouse
	reverse_proxy %s
}
`, db, idp, testenv.FastHash, smtp.URL(), idp, app, up.Addr())
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.StartCaddy(t, text)
	testenv.WaitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/.well-known/openid-configuration", idp), 5*time.Second)
	testenv.WaitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/_gatehouse/static/gatehouse.css", app), 0)
	cfg, err := module.LoadPoolConfig(file, "", "default")
	if err != nil {
		t.Fatal(err)
	}
	mp, err := module.OpenPool(context.Background(), "default", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mp.Close() })
	p := mp.Pool

	// bcrypt's lowest cost: the import and the upgrade are the point, not
	// the cost, and under -race each check at cost 10 takes most of a
	// CPU-second (three here).
	bc, _ := bcrypt.GenerateFromPassword([]byte("an old bcrypt password"), bcrypt.MinCost)
	jsonl := `{"user":{"email":"bc@example.com","email_verified":true,"password_hash":"` + string(bc) + `"}}
{"user":{"email":"fire@example.com","email_verified":true,"firebase_scrypt":{"hash":"lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==","salt":"42xEC+ixf3L2lw=="}}}
{"user":{"email":"fire2@example.com","email_verified":true,"firebase_scrypt":{"hash":"lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==","salt":"42xEC+ixf3L2lw=="}}}
`
	signer, _ := base64Std("jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==")
	plan, err := transfer.ReadJSONL(strings.NewReader(jsonl), transfer.ReadOptions{Firebase: &pool.FirebaseScryptParams{SignerKey: signer, SaltSeparator: []byte{7}, Rounds: 8, MemCost: 14}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := transfer.Import(context.Background(), p, plan, transfer.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	csv := strings.Join(transfer.CognitoCSVHeader, ",") + "\nCarol,,,,,,,,,carol@example.com,true,,,,,,,,,false,carol\n"
	if plan, err = transfer.ReadCognitoCSV(strings.NewReader(csv)); err != nil {
		t.Fatal(err)
	}
	if _, err := transfer.Import(context.Background(), p, plan, transfer.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	hashOf := func(email string) string {
		u, err := p.UserByEmail(context.Background(), email)
		if err != nil {
			t.Fatal(err)
		}
		return u.PasswordHash
	}
	appBase := fmt.Sprintf("http://127.0.0.1:%d", app)
	api := func(email, password string) (int, map[string]any) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"ClientId": "spa", "AuthFlow": "USER_PASSWORD_AUTH",
			"AuthParameters": map[string]string{"USERNAME": email, "PASSWORD": password}})
		req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/", idp), strings.NewReader(string(body)))
		req.Header.Set("X-Amz-Target", "AWSCognitoIdentityProviderService.InitiateAuth")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		return resp.StatusCode, out
	}

	// bcrypt on the hosted page; a wrong password first.
	c := testenv.Browser(t)
	resp, body := postSignIn(t, c, appBase, signInForm(t, c, appBase, "/"), "/", "bc@example.com", "not the password")
	wantStatus(t, "wrong password", resp, body, http.StatusUnauthorized)
	if !strings.HasPrefix(hashOf("bc@example.com"), "$2a$") {
		t.Fatal("a wrong password changed the imported hash")
	}
	signIn(t, c, appBase, "/", "bc@example.com", "an old bcrypt password")
	if h := hashOf("bc@example.com"); !strings.HasPrefix(h, "$argon2id$") {
		t.Errorf("bcrypt hash after the hosted sign-in: %.10s..., want argon2id", h)
	}
	if status, out := api("bc@example.com", "an old bcrypt password"); status != http.StatusOK || out["AuthenticationResult"] == nil {
		t.Errorf("API sign-in with the upgraded hash: %d %v", status, out)
	}

	// Firebase scrypt through the Cognito API, and on the hosted page.
	if status, out := api("fire@example.com", "wrong"); status != http.StatusBadRequest || out["__type"] != "NotAuthorizedException" {
		t.Errorf("API wrong password: %d %v", status, out)
	}
	if status, out := api("fire@example.com", "user1password"); status != http.StatusOK || out["AuthenticationResult"] == nil {
		t.Fatalf("API sign-in with a Firebase hash: %d %v", status, out)
	}
	if h := hashOf("fire@example.com"); !strings.HasPrefix(h, "$argon2id$") {
		t.Errorf("Firebase hash after the API sign-in: %.18s..., want argon2id", h)
	}
	signIn(t, testenv.Browser(t), appBase, "/", "fire2@example.com", "user1password")
	if h := hashOf("fire2@example.com"); !strings.HasPrefix(h, "$argon2id$") {
		t.Errorf("Firebase hash after the hosted sign-in: %.18s..., want argon2id", h)
	}

	// The CSV user: the API answers as Cognito, the page sends to reset.
	if status, out := api("carol@example.com", "anything"); status != http.StatusBadRequest || out["__type"] != "PasswordResetRequiredException" {
		t.Errorf("API for a CSV user: %d %v", status, out)
	}
	c = testenv.Browser(t)
	resp, body = postSignIn(t, c, appBase, signInForm(t, c, appBase, "/"), "/", "carol@example.com", "anything")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Path != "/_gatehouse/forgot" || loc.Query().Get("email") != "carol@example.com" {
		t.Fatalf("hosted sign-in of a CSV user: %d, Location %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	resp, body = get(t, c, appBase+loc.String(), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "must be reset") {
		t.Fatalf("forgot page: %d\n%s", resp.StatusCode, body)
	}
	tok := csrfField.FindStringSubmatch(body)[1]
	form := url.Values{"csrf": {tok}, "email": {"carol@example.com"}}
	req, _ := http.NewRequest(http.MethodPost, appBase+"/_gatehouse/forgot", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", appBase)
	resp, body = do(t, c, req)
	wantStatus(t, "forgot", resp, body, http.StatusSeeOther)
	code := smtp.WaitFor(t, "carol@example.com", 1, mailWait).Code(t)
	resp, body = get(t, c, appBase+"/_gatehouse/reset?email=carol%40example.com", nil)
	wantStatus(t, "reset page", resp, body, http.StatusOK)
	tok = csrfField.FindStringSubmatch(body)[1]
	form = url.Values{"csrf": {tok}, "email": {"carol@example.com"}, "code": {code}, "password": {"a brand new passphrase of hers"}}
	req, _ = http.NewRequest(http.MethodPost, appBase+"/_gatehouse/reset", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", appBase)
	resp, body = do(t, c, req)
	wantStatus(t, "reset", resp, body, http.StatusSeeOther)
	signIn(t, testenv.Browser(t), appBase, "/", "carol@example.com", "a brand new passphrase of hers")
	if status, out := api("carol@example.com", "a brand new passphrase of hers"); status != http.StatusOK || out["AuthenticationResult"] == nil {
		t.Errorf("API sign-in after the reset: %d %v", status, out)
	}
}

func base64Std(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
