package module_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestAccessLogUserID: with Caddy's access log on a guarded site, each
// entry's user_id is the signed-in user's sub, as Caddy's own
// authentication records it; no user for a request without a session,
// whatever identity headers it claims.
func TestAccessLogUserID(t *testing.T) {
	s := startSite(t, "", map[string]string{"app": "pool default"})
	logPath := filepath.Join(s.dir, "access.log")
	s.stop()
	s.text = strings.Replace(s.text, "\treverse_proxy ", "\tlog {\n\t\toutput file "+logPath+"\n\t}\n\treverse_proxy ", 1)
	s.start()
	ada := createAda(t, s)

	anon := testenv.Browser(t)
	if resp, _ := get(t, anon, s.url("app", "/before"), http.Header{"X-Amzn-Oidc-Identity": {ada.ID}}); resp.StatusCode != http.StatusFound {
		t.Fatalf("without a session: %d, want 302", resp.StatusCode)
	}
	c := testenv.Browser(t)
	signIn(t, c, s.url("app", ""), "/", adaEmail, adaPassword)
	if resp, body := get(t, c, s.url("app", "/after"), nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("signed in: %d %s", resp.StatusCode, body)
	}
	s.stop() // flushes the log

	users := map[string]string{} // uri -> user_id
	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct {
			UserID  string `json:"user_id"`
			Request struct {
				URI string `json:"uri"`
			} `json:"request"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("access log line %q: %v", sc.Text(), err)
		}
		users[e.Request.URI] = e.UserID
	}
	if got, ok := users["/before"]; !ok || got != "" {
		t.Errorf("request without a session: logged (%v) with user_id %q, want none", ok, got)
	}
	if got := users["/after"]; got != ada.ID {
		t.Errorf("signed-in request: user_id %q, want %q", got, ada.ID)
	}
}
