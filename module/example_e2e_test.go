package module_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestCaddyfileExampleRuns runs Caddyfile.example as the README's first
// command does (on free ports instead of 8080, 8081 and 9180, its data in a
// temporary folder): a private page sends a browser to the sign-in page,
// the sign-in page answers, and the metrics site shows Gatehouse's metrics
// beside Caddy's. A change to the example that stops it from starting, or
// an option it shows that does not parse, fails here.
func TestCaddyfileExampleRuns(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	site, upstream, metrics := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	text := strings.NewReplacer(
		"localhost:8080", fmt.Sprintf("localhost:%d", site),
		"127.0.0.1:8081", fmt.Sprintf("127.0.0.1:%d", upstream),
		"http://:8081", fmt.Sprintf("http://:%d", upstream),
		":9180", fmt.Sprintf(":%d", metrics),
		"{$GATEHOUSE_DATA:./data}", t.TempDir(),
	).Replace(string(raw))
	for _, port := range []string{"8080", "8081", "9180"} {
		if strings.Contains(text, ":"+port) {
			t.Fatalf("Caddyfile.example uses port %s where this test does not move it", port)
		}
	}
	testenv.StartCaddy(t, text)
	base := fmt.Sprintf("http://localhost:%d", site)
	testenv.WaitHTTP(t, base+"/_gatehouse/signin", 10*time.Second)

	c := testenv.Browser(t)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "/_gatehouse/signin") {
		t.Fatalf("the private site answered %d, Location %q, want a redirect to the sign-in page", resp.StatusCode, loc)
	}
	resp, err = c.Get(base + "/_gatehouse/signin")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "Gatehouse demo") {
		t.Fatalf("the sign-in page: %d\n%s", resp.StatusCode, page)
	}
	resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "gatehouse_") {
		t.Fatalf("the metrics site: %d, no gatehouse_ metric in %d bytes", resp.StatusCode, len(body))
	}
}
