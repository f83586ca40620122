package cli_test

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/pool"
)

type accessKeyJSON struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	ReadOnly        bool      `json:"read_only"`
	Description     string    `json:"description"`
	CreatedAt       time.Time `json:"created_at"`
}

// TestAccessKeys makes keys with the CLI, the secret printed once and
// usable by the server's pool; lists them without secrets; revokes one,
// which the pool then no longer knows.
func TestAccessKeys(t *testing.T) {
	e := newEnv(t, "")
	text := e.ok("access-keys", "create", "--description", "deploy scripts")
	m := regexp.MustCompile(`(?m)^AccessKeyId:\s+(GHAK[A-Z2-7]{16})\nSecretAccessKey:\s+([A-Za-z0-9+/]{40})\nReadOnly:\s+false\n$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("create printed:\n%s", text)
	}
	rwID, rwSecret := m[1], m[2]
	e.secrets = append(e.secrets, rwSecret)

	var ro accessKeyJSON
	r := e.gh("access-keys", "create", "--read-only", "--json")
	if r.code != 0 {
		t.Fatalf("create --read-only: %s", r.stderr)
	}
	decodeStrict(t, r.stdout, &ro)
	if !ro.ReadOnly || len(ro.SecretAccessKey) != 40 || ro.CreatedAt.IsZero() {
		t.Fatalf("create --json: %+v", ro)
	}
	e.secrets = append(e.secrets, ro.SecretAccessKey)

	// The server's pool, opened from the same config, checks with them.
	p := e.openPool()
	secret, readOnly, err := p.AccessKeySecret(t.Context(), rwID)
	if err != nil || string(secret) != rwSecret || readOnly {
		t.Fatalf("the server's pool reads %q %v %v", secret, readOnly, err)
	}

	// Listed, never with a secret (e.run fails the test on one).
	list := e.ok("access-keys", "list")
	if !strings.Contains(list, rwID) || !strings.Contains(list, ro.AccessKeyID) || !strings.Contains(list, "deploy scripts") {
		t.Errorf("list:\n%s", list)
	}
	var listed []accessKeyJSON
	if err := json.Unmarshal([]byte(e.ok("access-keys", "list", "--json")), &listed); err != nil || len(listed) != 2 {
		t.Fatalf("list --json: %v %v", listed, err)
	}
	for _, k := range listed {
		if k.SecretAccessKey != "" {
			t.Errorf("listed with a secret: %+v", k)
		}
	}

	if out := e.ok("access-keys", "revoke", rwID); !strings.Contains(out, "revoked access key "+rwID) {
		t.Errorf("revoke: %s", out)
	}
	if _, _, err := p.AccessKeySecret(t.Context(), rwID); !errors.Is(err, pool.ErrAccessKeyNotFound) {
		t.Errorf("after revoke the server's pool reads: %v", err)
	}
	e.fails(e.gh("access-keys", "revoke", rwID), "no access key")
	e.fails(e.gh("access-keys", "revoke"), "accepts 1 arg")
	e.fails(e.gh("access-keys", "create", "stray"), "unexpected argument")
	e.fails(e.gh("access-keys", "create", "--description", strings.Repeat("x", 300)), "at most 256 bytes")
	if list := e.ok("access-keys", "list"); strings.Contains(list, rwID) {
		t.Errorf("a revoked key is listed:\n%s", list)
	}
}
