package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

type keyJSON struct {
	Kind      string    `json:"kind"`
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	State     string    `json:"state"`
}

func (e *env) keys() map[string]keyJSON {
	e.t.Helper()
	var list []keyJSON
	if err := json.Unmarshal([]byte(e.ok("keys", "list", "--json")), &list); err != nil {
		e.t.Fatal(err)
	}
	byID := map[string]keyJSON{}
	for _, k := range list {
		byID[k.Kind+"/"+k.ID] = k
	}
	return byID
}

// TestKeys walks a cookie key rotation with the CLI: a new key is pending,
// then (added active at once) seals while the old one only opens; the old
// one is removed; the last one cannot be. A signing rotation adds a key.
func TestKeys(t *testing.T) {
	e := newEnv(t, "")
	keys := e.keys()
	if k := keys["cookie/1"]; k.State != "sealing" {
		t.Fatalf("a fresh pool's cookie key: %+v, want cookie/1 sealing (all: %v)", k, keys)
	}
	var signing string
	for id, k := range keys {
		if k.Kind == "es256" && k.State == "signing" {
			signing = id
		}
	}
	if signing == "" {
		t.Fatalf("no es256 signing key in %v", keys)
	}
	if text := e.ok("keys", "list"); !strings.Contains(text, "cookie  1 ") || strings.Contains(text, "material") {
		t.Errorf("keys list:\n%s", text)
	}

	var pending keyJSON
	if err := json.Unmarshal([]byte(e.ok("keys", "rotate", "--kind", "cookie", "--json")), &pending); err != nil {
		t.Fatal(err)
	}
	if pending.State != "pending" || time.Until(pending.CreatedAt) < 50*time.Second {
		t.Errorf("rotate --kind cookie: %+v, want pending for a minute", pending)
	}
	out := e.ok("keys", "rotate", "--kind", "cookie", "--activate-in", "0s")
	if !strings.HasPrefix(out, "added cookie key ") {
		t.Errorf("rotate output %q", out)
	}
	keys = e.keys()
	states := map[string]int{}
	for _, k := range keys {
		if k.Kind == "cookie" {
			states[k.State]++
		}
	}
	if states["pending"] != 1 || states["sealing"] != 1 || states["opening"] != 1 || keys["cookie/1"].State != "opening" {
		t.Errorf("after two rotations: %v", keys)
	}

	e.ok("keys", "remove", "--kind", "cookie", "--id", "1")
	if _, ok := e.keys()["cookie/1"]; ok {
		t.Error("cookie/1 is still listed after remove")
	}
	e.fails(e.gh("keys", "remove", "--kind", "cookie", "--id", "1"), `no cookie key "1"`)
	e.fails(e.gh("keys", "remove", "--kind", "es256", "--id", strings.TrimPrefix(signing, "es256/")), "only cookie keys")
	e.ok("keys", "remove", "--kind", "cookie", "--id", pending.ID)
	var last string
	for _, k := range e.keys() {
		if k.Kind == "cookie" {
			last = k.ID
		}
	}
	e.fails(e.gh("keys", "remove", "--kind", "cookie", "--id", last), "only one")
	e.fails(e.gh("keys", "rotate", "--kind", "bogus"), "want cookie or signing")
	e.fails(e.gh("keys", "rotate", "--kind", "signing", "--activate-in", "1m"), "cookie only")

	e.ok("keys", "rotate", "--kind", "signing")
	keys = e.keys()
	if k := keys[signing]; k.State != "previous" {
		t.Errorf("after a signing rotation, the old key is %+v, want previous", k)
	}
}
