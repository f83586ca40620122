package module_test

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/pool"
)

// The page languages the browser tests ask for (the context's locale, so
// Accept-Language): the pages speak them once their catalogues exist, and
// the tests need no change when they do.
var pageLanguages = []string{"en", "de", "ja"}

// updateScreenshots regenerates the screenshots the tests compare against
// (module/testdata/screenshots, and the README's two in docs/) instead of
// comparing.
const updateScreenshots = "GATEHOUSE_UPDATE_SCREENSHOTS"

// Screenshot tolerance: a pixel differs when one of its channels moves by
// more than pixelThreshold (of 255); a screenshot differs when more than
// maxDiffRatio of its pixels do. Antialiasing and the odd glyph hinting
// stay under it; a moved field, a changed colour or a new line do not.
const (
	pixelThreshold = 48
	maxDiffRatio   = 0.01
)

// pagesSite is a Caddy serving the hosted pages of a pool that shows every
// page: open sign-up with a required attribute, an outside provider's
// button (never followed), mail (so confirmation, resets and email codes),
// `mfa required` (so the set-up, recovery codes and code pages), and no
// throttle (the scripts sign in many times).
type pagesSite struct {
	base, codes string
}

func startPagesSite(t *testing.T, mfa string) pagesSite {
	t.Helper()
	m := startMailSite(t, "Gatehouse", "mfa "+mfa+`
			throttle off
			idp github github {
				client_id pages-test
				client_secret pages-test-secret
			}`)
	smtp, file := m.smtp, m.file
	s := pagesSite{base: m.base, codes: m.codes}
	if mfa != "required" {
		return s
	}
	// Per language, a confirmed user without a factor (set-up, recovery
	// codes, account), one with an app and email codes (the code pages,
	// continue), and an invited one with a temporary password (new
	// password, email codes' set-up).
	p := openPoolFile(t, file)
	ctx := context.Background()
	for _, lang := range pageLanguages {
		if _, err := p.Pool.CreateUser(ctx, pool.NewUser{
			Email: "mfa-" + lang + "@example.com", Password: pagesPassword, Name: "Ada Lovelace", EmailVerified: true,
		}); err != nil {
			t.Fatal(err)
		}
		both := "both-" + lang + "@example.com"
		u, err := p.Pool.CreateUser(ctx, pool.NewUser{Email: both, Password: pagesPassword, Name: "Mary Somerville", EmailVerified: true})
		if err != nil {
			t.Fatal(err)
		}
		e, err := p.Pool.StartTOTP(ctx, u, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Pool.ConfirmTOTP(ctx, u.ID, e.FactorID, totpCode(t, e.Secret, 0)); err != nil {
			t.Fatal(err)
		}
		if err := p.Pool.SendMFACode(ctx, u); err != nil {
			t.Fatal(err)
		}
		code := mailCode.FindStringSubmatch(smtp.WaitFor(t, both, 1, mailWait).Text)
		if code == nil {
			t.Fatalf("no code in the mail to %s", both)
		}
		if _, err := p.Pool.EnableEmailCodes(ctx, u.ID, code[1]); err != nil {
			t.Fatal(err)
		}
		if _, _, err := p.Pool.InviteUser(ctx, pool.Invitation{
			Email: "temp-" + lang + "@example.com", Name: "Grace Hopper", EmailVerified: true, TemporaryPassword: pagesTempPassword,
		}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

const (
	pagesPassword     = "a quiet walk in the hills"
	pagesTempPassword = "Given-Provisional-Pass-99"
)

// TestBrowserPages runs testdata/browser/pages.mjs in one Chromium: it
// walks every hosted page in every state a user meets (empty, refused,
// each step of sign-up, reset and two-step verification, the account,
// continue, relay and error pages) in English, German and Japanese, and in
// light and dark. On each it runs axe-core with the WCAG 2.1 A and AA
// rules, and fails on any violation; after each refused form it checks
// that the error is in an alert and tied to its field, and that focus is
// on the first field in error. The main pages are also screenshotted, on
// a desktop and a phone, and compared here with module/testdata/screenshots
// (GATEHOUSE_UPDATE_SCREENSHOTS=1 writes them instead, with the README's
// two in docs/).
func TestBrowserPages(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	node := browserPrereqs(t, root)
	site := startPagesSite(t, "required")
	out := os.Getenv("GATEHOUSE_SHOTS")
	if out == "" {
		out = t.TempDir()
	}
	summary := runPagesScript(t, node, root, "pages.mjs", site.base, site.codes, out, strings.Join(pageLanguages, ","))
	var res struct {
		Checked    int `json:"checked"`
		Violations []struct {
			Page  string `json:"page"`
			Rules []struct {
				ID, Impact, Help string
				Nodes            []string
			} `json:"rules"`
		} `json:"violations"`
		Problems []string `json:"problems"`
		Shots    []string `json:"shots"`
	}
	if err := json.Unmarshal(summary, &res); err != nil {
		t.Fatalf("pages.mjs summary: %v\n%s", err, summary)
	}
	t.Logf("axe-core checked %d page states; %d screenshots", res.Checked, len(res.Shots))
	// 22 page states today, each in two schemes and every language: a
	// script that stopped reaching some would pass them unchecked.
	if want := 22 * 2 * len(pageLanguages); res.Checked < want {
		t.Errorf("axe-core checked %d page states, want %d", res.Checked, want)
	}
	for _, v := range res.Violations {
		var b strings.Builder
		for _, r := range v.Rules {
			fmt.Fprintf(&b, "\n  %s (%s): %s", r.ID, r.Impact, r.Help)
			for _, n := range r.Nodes {
				fmt.Fprintf(&b, "\n    %s", n)
			}
		}
		t.Errorf("axe-core: %s:%s", v.Page, b.String())
	}
	for _, p := range res.Problems {
		t.Errorf("errors not announced or focused: %s", p)
	}
	compareScreenshots(t, root, out, res.Shots)
}

// compareScreenshots compares each screenshot the script took (names, in
// out) with the one of the same name in module/testdata/screenshots, or,
// with GATEHOUSE_UPDATE_SCREENSHOTS=1, replaces that folder's images (and
// docs/'s two) with them.
func compareScreenshots(t *testing.T, root, out string, names []string) {
	t.Helper()
	golden := filepath.Join(root, "module", "testdata", "screenshots")
	if os.Getenv(updateScreenshots) == "1" {
		old, _ := filepath.Glob(filepath.Join(golden, "*.png"))
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(golden, 0o755); err != nil {
			t.Fatal(err)
		}
		var total int64
		for _, name := range names {
			total += writeSmallPNG(t, filepath.Join(out, name), filepath.Join(golden, name))
		}
		docs := map[string]string{
			"signin.en.light.desktop.png": "screenshot-signin-light.png",
			"signin.en.dark.phone.png":    "screenshot-signin-dark-phone.png",
		}
		for from, to := range docs {
			writeSmallPNG(t, filepath.Join(out, from), filepath.Join(root, "docs", to))
		}
		t.Logf("%s=1: wrote %d screenshots (%.1f MB) to %s, and %d to docs/", updateScreenshots, len(names), float64(total)/1e6, golden, len(docs))
		return
	}
	kept, _ := filepath.Glob(filepath.Join(golden, "*.png"))
	for _, f := range kept {
		if !slices.Contains(names, filepath.Base(f)) {
			t.Errorf("screenshot %s is no longer taken (regenerate with %s=1)", filepath.Base(f), updateScreenshots)
		}
	}
	for _, name := range names {
		want, err := readPNG(filepath.Join(golden, name))
		if err != nil {
			t.Errorf("screenshot %s: %v (regenerate with %s=1)", name, err, updateScreenshots)
			continue
		}
		got, err := readPNG(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if msg := imageDiff(want, got); msg != "" {
			t.Errorf("screenshot %s: %s; this run's is %s (GATEHOUSE_SHOTS keeps it; regenerate with %s=1 if the change is meant)",
				name, msg, filepath.Join(out, name), updateScreenshots)
		}
	}
}

// imageDiff says how b differs from a beyond the tolerance, or "".
func imageDiff(a, b image.Image) string {
	ab, bb := a.Bounds(), b.Bounds()
	if ab.Dx() != bb.Dx() || ab.Dy() != bb.Dy() {
		return fmt.Sprintf("size %dx%d, want %dx%d", bb.Dx(), bb.Dy(), ab.Dx(), ab.Dy())
	}
	pa, pb := rgba(a).Pix, rgba(b).Pix
	differ := 0
	for i := 0; i+3 < len(pa); i += 4 {
		if channelDiff(pa[i], pb[i]) > pixelThreshold || channelDiff(pa[i+1], pb[i+1]) > pixelThreshold || channelDiff(pa[i+2], pb[i+2]) > pixelThreshold {
			differ++
		}
	}
	if ratio := float64(differ) / float64(ab.Dx()*ab.Dy()); ratio > maxDiffRatio {
		return fmt.Sprintf("%.2f%% of pixels differ (tolerance %.0f%%)", 100*ratio, 100*maxDiffRatio)
	}
	return ""
}

// rgba is img as an *image.RGBA at the origin (screenshots are opaque,
// so premultiplied or not is the same).
func rgba(img image.Image) *image.RGBA {
	if r, ok := img.(*image.RGBA); ok && r.Bounds().Min == (image.Point{}) {
		return r
	}
	r := image.NewRGBA(image.Rect(0, 0, img.Bounds().Dx(), img.Bounds().Dy()))
	draw.Draw(r, r.Bounds(), img, img.Bounds().Min, draw.Src)
	return r
}

func channelDiff(a, b uint8) uint8 {
	if a > b {
		return a - b
	}
	return b - a
}

func readPNG(file string) (image.Image, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return png.Decode(f)
}

// writeSmallPNG writes the PNG from as to, compressed as far as Go can,
// and returns its size.
func writeSmallPNG(t *testing.T, from, to string) int64 {
	t.Helper()
	img, err := readPNG(from)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// runPagesScript runs testdata/browser/<script> with node and args, in the
// shared Chromium (sharedBrowser) as runBrowserScript does, fails
// the test on a non-zero exit or after five minutes, and returns the JSON
// summary, its last line on stdout.
func runPagesScript(t *testing.T, node, root, script string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join(root, "module", "testdata", "browser", script)}, args...)...)
	cmd.Dir = root
	ws, err := sharedBrowser(node, root)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromiumPath, "GATEHOUSE_BROWSER_WS="+ws)
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	stdout, err := cmd.Output()
	t.Logf("%s took %s", script, time.Since(start).Round(time.Millisecond))
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish within 5 minutes:\n%s\n%s", script, stdout, stderr.String())
	}
	if err != nil {
		t.Fatalf("%s: %v\n%s\n%s", script, err, stdout, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(stdout)), "\n")
	return []byte(lines[len(lines)-1])
}

// TestBrowserKeyboard runs testdata/browser/keyboard.mjs: in Chromium, a
// user signs up, confirms with the mailed code and signs in with the
// keyboard alone (Tab, Shift+Tab, Enter, Space), and at every focus move
// focus is visible (:focus-visible, an outline of 3:1 contrast in light
// and dark).
func TestBrowserKeyboard(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	node := browserPrereqs(t, root)
	site := startPagesSite(t, "optional")
	runBrowserScript(t, node, root, t.TempDir(), "keyboard.mjs", []string{site.base, site.codes, "dorothy@example.com"})
}

// TestImageDiff: the screenshot comparison's tolerance, both ways.
func TestImageDiff(t *testing.T) {
	base := func() *image.RGBA {
		img := image.NewRGBA(image.Rect(0, 0, 100, 100))
		for i := range img.Pix {
			img.Pix[i] = 200
		}
		return img
	}
	paint := func(n int, delta uint8) *image.RGBA {
		img := base()
		for p := 0; p < n; p++ {
			img.Pix[4*p+1] -= delta
		}
		return img
	}
	for _, tc := range []struct {
		name  string
		got   image.Image
		equal bool
	}{
		{"same", base(), true},
		{"antialiasing: every pixel a little off", paint(10000, pixelThreshold), true},
		{"under 1% of pixels changed", paint(99, 200), true},
		{"over 1% of pixels changed", paint(101, 200), false},
		{"another size", image.NewRGBA(image.Rect(0, 0, 100, 101)), false},
	} {
		if msg := imageDiff(base(), tc.got); (msg == "") != tc.equal {
			t.Errorf("%s: imageDiff = %q", tc.name, msg)
		}
	}
}
