package module_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/pool"
	"golang.org/x/oauth2"
)

// i18nPool is a pool whose default language is Japanese, with an
// operator's folder that changes one German text and adds Arabic, open
// sign-up that collects the locale attribute, and mail through a real SMTP
// server.
func i18nPool(t *testing.T, smtp *testenv.SMTPServer) string {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"de.toml": `"Sign in" = "Einloggen"` + "\n",
		"ar.toml": `"Sign in" = "تسجيل الدخول"` + "\n" + `"Password" = "كلمة المرور"` + "\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return fmt.Sprintf(`signup open
			attribute locale
			default_language ja
			locales_dir %s
			mail %s {
				from "Example Corp <no-reply@example.com>"
				timeout 2s
			}`, dir, smtp.URL())
}

var (
	htmlLangRE = regexp.MustCompile(`<html lang="([^"]*)" dir="([^"]*)">`)
	h1RE       = regexp.MustCompile(`<h1 class="title">([^<]*)</h1>`)
)

// pageLang returns a page's lang, dir and first heading.
func pageLang(body string) (lang, dir, h1 string) {
	if m := htmlLangRE.FindStringSubmatch(body); m != nil {
		lang, dir = m[1], m[2]
	}
	if m := h1RE.FindStringSubmatch(body); m != nil {
		h1 = html.UnescapeString(m[1])
	}
	return lang, dir, h1
}

func wantPage(t *testing.T, what, body, lang, dir, h1 string) {
	t.Helper()
	gl, gd, gh := pageLang(body)
	if gl != lang || gd != dir || gh != h1 {
		t.Errorf("%s: lang %q dir %q h1 %q, want %q %q %q", what, gl, gd, gh, lang, dir, h1)
	}
}

func TestLanguagesE2E(t *testing.T) {
	smtp := testenv.StartSMTP(t, testenv.SMTPOptions{})
	s := startSite(t, i18nPool(t, smtp), map[string]string{"app": "pool default"})
	createAda(t, s)
	base := s.url("app", "")
	lang := func(l string) http.Header { return http.Header{"Accept-Language": {l}} }

	t.Run("Accept-Language", func(t *testing.T) {
		c := testenv.Browser(t)
		for _, tc := range []struct{ accept, lang, h1 string }{
			{"fr-FR,fr;q=0.9,en;q=0.5", "fr", "Se connecter"},
			{"es-419", "es", "Iniciar sesión"},
			{"pt", "pt-BR", "Entrar"},
			{"zh-CN,zh;q=0.9", "zh-Hans", "登录"},
			{"en-GB", "en", "Sign in"},
			{"sw, fr;q=0.5", "fr", "Se connecter"},
		} {
			resp, body := get(t, c, base+"/_gatehouse/signin", lang(tc.accept))
			wantStatus(t, tc.accept, resp, body, http.StatusOK)
			wantPage(t, tc.accept, body, tc.lang, "ltr", tc.h1)
		}
		_, body := get(t, c, base+"/_gatehouse/signup", lang("de"))
		wantPage(t, "German sign-up", body, "de", "ltr", "Konto erstellen")
		for _, want := range []string{`<label for="f-email">E-Mail</label>`, "Sie haben schon ein Konto?", `<option value="de" lang="de" selected>Deutsch</option>`,
			`<label for="language-select">Sprache</label>`} {
			if !strings.Contains(body, want) {
				t.Errorf("German sign-up page lacks %s", want)
			}
		}
	})

	t.Run("pool default and an error page in Japanese", func(t *testing.T) {
		c := testenv.Browser(t)
		_, body := get(t, c, base+"/_gatehouse/signin", nil)
		wantPage(t, "no Accept-Language", body, "ja", "ltr", "サインイン")
		_, body = get(t, c, base+"/_gatehouse/signin", lang("sw"))
		wantPage(t, "a language the pool lacks", body, "ja", "ltr", "サインイン")
		resp, body := get(t, c, base+"/_gatehouse/no-such-page", lang("ja"))
		wantStatus(t, "404", resp, body, http.StatusNotFound)
		wantPage(t, "404", body, "ja", "ltr", "ページが見つかりません")
		if !strings.Contains(body, "このアドレスにページはありません。") || !strings.Contains(body, "エラー 404") {
			t.Errorf("Japanese error page:\n%s", body)
		}
		// A wrong password: the form's error in Japanese too.
		csrf := signInForm(t, c, base, "/")
		_, body = postSignIn(t, c, base, csrf, "/", adaEmail, "wrong password")
		if got := alert(body); got != "メールアドレスまたはパスワードが正しくありません。" {
			t.Errorf("sign-in error %q", got)
		}
	})

	t.Run("operator override and an added right-to-left language", func(t *testing.T) {
		c := testenv.Browser(t)
		_, body := get(t, c, base+"/_gatehouse/signin", lang("de"))
		wantPage(t, "overridden German", body, "de", "ltr", "Einloggen")
		if !strings.Contains(body, "Passwort vergessen?") {
			t.Error("the rest of German is gone")
		}
		_, body = get(t, c, base+"/_gatehouse/signin", lang("ar"))
		wantPage(t, "Arabic", body, "ar", "rtl", "تسجيل الدخول")
		if !strings.Contains(body, `<label for="password">كلمة المرور</label>`) || !strings.Contains(body, "Forgot your password?") {
			t.Errorf("Arabic page: its own texts, English for the rest:\n%s", body)
		}
		resp, css := get(t, c, base+"/_gatehouse/static/gatehouse.css", nil)
		wantStatus(t, "css", resp, css, http.StatusOK)
		for _, physical := range []string{"padding-left", "padding-right", "margin-left", "margin-right", "text-align: left", "text-align: right", " left:", " right:"} {
			if strings.Contains(css, physical) {
				t.Errorf("gatehouse.css uses %q: a right-to-left page would not mirror", physical)
			}
		}
	})

	t.Run("picker", func(t *testing.T) {
		c := testenv.Browser(t)
		_, body := get(t, c, base+"/_gatehouse/signup?rd=/reports", lang("de"))
		if !strings.Contains(body, `<form class="language" method="get" action="/_gatehouse/language">`) {
			t.Fatalf("no picker:\n%s", body)
		}
		ref := http.Header{"Referer": {base + "/_gatehouse/signup?rd=%2Freports"}, "Accept-Language": {"de"}}
		resp, _ := get(t, c, base+"/_gatehouse/language?lang=es", ref)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/_gatehouse/signup?rd=%2Freports" {
			t.Fatalf("picker: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		ck := cookieNamed(resp, "lang")
		if ck == nil || ck.Value != "es" || !ck.HttpOnly || ck.MaxAge < 86400 {
			t.Fatalf("language cookie %+v", ck)
		}
		// The cookie wins over Accept-Language from now on.
		_, body = get(t, c, base+"/_gatehouse/signin", lang("de"))
		wantPage(t, "after the picker", body, "es", "ltr", "Iniciar sesión")

		// Attacks: the way back is never another site, nor a path that
		// leaves it; a cross-site request changes nothing; an unknown
		// language is refused.
		for _, ref := range []string{"https://evil.example/_gatehouse/signin", "http://evil.example/x",
			base + "//evil.example/x", base + "/%2F%2Fevil.example", "javascript:alert(1)", ""} {
			resp, _ := get(t, testenv.Browser(t), base+"/_gatehouse/language?lang=fr", http.Header{"Referer": {ref}})
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/_gatehouse/signin" {
				t.Errorf("Referer %q: %d to %q", ref, resp.StatusCode, loc)
			}
		}
		x := testenv.Browser(t)
		resp, _ = get(t, x, base+"/_gatehouse/language?lang=fr", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Referer": {base + "/_gatehouse/signin"}})
		if resp.StatusCode != http.StatusSeeOther || cookieNamed(resp, "lang") != nil {
			t.Errorf("cross-site picker: %d, cookie %v", resp.StatusCode, cookieNamed(resp, "lang"))
		}
		resp, body = get(t, x, base+"/_gatehouse/language?lang=xx%0d%0aSet-Cookie:%20a=b", lang("fr"))
		if resp.StatusCode != http.StatusBadRequest || cookieNamed(resp, "lang") != nil || !strings.Contains(body, "Ce site ne propose pas cette langue.") {
			t.Errorf("unknown language: %d\n%s", resp.StatusCode, body)
		}
		// A forged cookie names no language: Accept-Language decides.
		u, _ := url.Parse(base)
		x.Jar.SetCookies(u, []*http.Cookie{{Name: "lang", Value: "../../etc"}})
		_, body = get(t, x, base+"/_gatehouse/signin", lang("fr"))
		wantPage(t, "forged cookie", body, "fr", "ltr", "Se connecter")
		resp, _ = get(t, x, base+"/_gatehouse/language", nil)
		wantStatus(t, "no lang", resp, "", http.StatusBadRequest)
	})

	t.Run("the pool's form errors in German", func(t *testing.T) {
		c := testenv.Browser(t)
		_, page := get(t, c, base+"/_gatehouse/signup", lang("de"))
		tok := csrfField.FindStringSubmatch(page)[1]
		form := url.Values{"csrf": {tok}, "email": {"not an address"}, "password": {"short"}, "locale": {"Deutsch!"}}
		req, _ := http.NewRequest(http.MethodPost, base+"/_gatehouse/signup", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
		req.Header.Set("Accept-Language", "de")
		resp, body := do(t, c, req)
		wantStatus(t, "bad sign-up", resp, body, http.StatusUnprocessableEntity)
		for _, want := range []string{"Bitte korrigieren Sie die unten markierten Felder.", "Geben Sie eine gültige E-Mail-Adresse ein, z. B. name@example.com.",
			"Muss ein Sprachcode wie de oder pt-BR sein.", "12 bis 128 Zeichen"} {
			if !strings.Contains(html.UnescapeString(body), want) {
				t.Errorf("German sign-up errors lack %q", want)
			}
		}
	})

	t.Run("sign-up mail in German, then the user's locale", func(t *testing.T) {
		c := testenv.Browser(t)
		const email = "grete@example.com"
		_, page := get(t, c, base+"/_gatehouse/signup", lang("de"))
		if !strings.Contains(page, `name="locale" type="text" value="de"`) {
			t.Errorf("the locale field is not filled with the page's language")
		}
		tok := csrfField.FindStringSubmatch(page)[1]
		form := url.Values{"csrf": {tok}, "email": {email}, "password": {"ein ruhiger Spaziergang"}, "locale": {""}}
		req, _ := http.NewRequest(http.MethodPost, base+"/_gatehouse/signup", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
		req.Header.Set("Accept-Language", "de")
		resp, body := do(t, c, req)
		wantStatus(t, "sign-up", resp, body, http.StatusSeeOther)
		msg := smtp.WaitFor(t, email, 1, mailWait)
		code := msg.Code(t)
		if msg.Subject != "Ihr Bestätigungscode für Example Corp: "+code {
			t.Errorf("subject %q", msg.Subject)
		}
		for _, want := range []string{"Willkommen bei Example Corp!", "Der Code läuft in 24 Stunden ab."} {
			if !strings.Contains(msg.Text, want) {
				t.Errorf("German mail text lacks %q:\n%s", want, msg.Text)
			}
		}
		if !strings.Contains(msg.HTML, `<html lang="de" dir="ltr">`) || !strings.Contains(msg.HTML, "Bestätigen Sie Ihre E-Mail-Adresse") {
			t.Errorf("German mail HTML:\n%s", msg.HTML)
		}
		u, err := s.pool.Pool.UserByEmail(context.Background(), email)
		if err != nil || u.Attributes["locale"] != "de" {
			t.Fatalf("locale attribute %v (%v)", u.Attributes, err)
		}
	})

	// forgot asks for a reset code for email from a page in accept.
	forgot := func(t *testing.T, email, accept string) {
		t.Helper()
		c := testenv.Browser(t)
		_, page := get(t, c, base+"/_gatehouse/forgot", lang(accept))
		tok := csrfField.FindStringSubmatch(page)[1]
		req, _ := http.NewRequest(http.MethodPost, base+"/_gatehouse/forgot", strings.NewReader(url.Values{"csrf": {tok}, "email": {email}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
		req.Header.Set("Accept-Language", accept)
		if resp, body := do(t, c, req); resp.StatusCode >= 400 {
			t.Fatalf("forgot: %d\n%s", resp.StatusCode, body)
		}
	}

	t.Run("the user's locale wins over the page's language", func(t *testing.T) {
		ada, err := s.pool.Pool.UserByEmail(context.Background(), adaEmail)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.pool.Pool.UpdateProfile(context.Background(), ada.ID, map[string]string{"locale": "ja-JP"}); err != nil {
			t.Fatal(err)
		}
		forgot(t, adaEmail, "fr")
		msg := smtp.WaitFor(t, adaEmail, 1, mailWait)
		if msg.Subject != "Example Corp のパスワード再設定コード: "+msg.Code(t) || !strings.Contains(msg.Text, "コードの有効期限は 1 時間 です。") {
			t.Errorf("reset mail for a Japanese user %q:\n%s", msg.Subject, msg.Text)
		}
	})

	t.Run("a mail without a user locale follows the page", func(t *testing.T) {
		if _, err := s.pool.Pool.CreateUser(context.Background(), pool.NewUser{Email: "bob@example.com", Password: adaPassword, EmailVerified: true}); err != nil {
			t.Fatal(err)
		}
		forgot(t, "bob@example.com", "pt-BR")
		msg := smtp.WaitFor(t, "bob@example.com", 1, mailWait)
		if !strings.HasPrefix(msg.Subject, "Seu código de redefinição de senha de Example Corp") || !strings.Contains(msg.Text, "O código expira em 1 hora.") {
			t.Errorf("Portuguese reset mail %q:\n%s", msg.Subject, msg.Text)
		}
	})
}

// TestLocalesDirErrors: a broken catalogue fails the start, named.
func TestLocalesDirErrors(t *testing.T) {
	for name, tc := range map[string]struct{ file, text, want string }{
		"unparsable":          {"de.toml", `"Sign in" = `, "de.toml"},
		"unknown placeholder": {"fr.toml", `"Continue with {{.Provider}}" = "Continuer avec {{.Fournisseur}}"`, "{{.Fournisseur}}"},
		"bad template":        {"es.toml", `"Continue with {{.Provider}}" = "Continuar con {{.Provider"`, "es.toml"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			out := testenv.Adapt(t, `{
	gatehouse {
		pool default {
			store sqlite `+filepath.Join(t.TempDir(), "gh.db")+`
			locales_dir `+dir+`
		}
	}
}
http://127.0.0.1:1 {
	gatehouse {
		pool default
	}
}
`)
			err := caddyValidate(out)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "locales_dir") {
				t.Fatalf("provision error %v, want one naming %q", err, tc.want)
			}
		})
	}
	t.Run("default_language of no catalogue", func(t *testing.T) {
		out := testenv.Adapt(t, `{
	gatehouse {
		pool default {
			store sqlite `+filepath.Join(t.TempDir(), "gh.db")+`
			default_language tlh
		}
	}
}
http://127.0.0.1:1 {
	gatehouse {
		pool default
	}
}
`)
		if err := caddyValidate(out); err == nil || !strings.Contains(err.Error(), "default_language") {
			t.Fatalf("provision error %v", err)
		}
	})
}

// TestUILocalesE2E: an app's ui_locales at the authorization endpoint (and
// Cognito's lang at /login) chooses the hosted pages' language for the
// whole flow, over Accept-Language, until the user picks another.
func TestUILocalesE2E(t *testing.T) {
	s := startIDP(t, idpClients)
	s.createUser(t, adaEmail, "Ada Lovelace")
	webapp := s.RP("webapp", webappSecret, webappCB)
	de := http.Header{"Accept-Language": {"de"}}
	c := testenv.Browser(t)
	var doc struct {
		UILocales []string `json:"ui_locales_supported"`
	}
	if err := s.op.Claims(&doc); err != nil || strings.Join(doc.UILocales, " ") != "en de es fr ja pt-BR zh-Hans" {
		t.Errorf("discovery's ui_locales_supported %v (%v)", doc.UILocales, err)
	}

	a := webapp.Start(oauth2.SetAuthURLParam("ui_locales", "fr-CA en"))
	resp, body := get(t, c, a.URL, de)
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil || loc.Path != "/_gatehouse/signin" || loc.Query().Get("ui_locales") != "fr-CA en" {
		t.Fatalf("authorize: %d to %v\n%s", resp.StatusCode, loc, body)
	}
	signInURL := s.issuer + loc.RequestURI()
	resp, body = get(t, c, signInURL, de)
	wantPage(t, "sign-in page of the flow", body, "fr", "ltr", "Se connecter")
	if ck := cookieNamed(resp, "ui_locales"); ck == nil || ck.Value != "fr" || ck.MaxAge != 0 {
		t.Errorf("flow language cookie %+v", ck)
	}
	// The flow's next pages keep French without the parameter.
	_, body = get(t, c, s.issuer+"/_gatehouse/no-such-page", de)
	wantPage(t, "another page of the flow", body, "fr", "ltr", "Page introuvable")
	rd := loc.Query().Get("rd")
	csrf := signInForm(t, c, s.issuer, rd)
	_, body = postSignIn(t, c, s.issuer, csrf, rd, adaEmail, "wrong")
	if got := alert(body); got != "Adresse e-mail ou mot de passe incorrect." {
		t.Errorf("French sign-in error %q", got)
	}
	if _, to := signIn(t, c, s.issuer, rd, adaEmail, adaPassword); to != rd {
		t.Fatalf("sign-in continues to %q", to)
	}
	resp, _ = get(t, c, s.issuer+rd, nil)
	code := s.CodeFrom(t, mustLocation(t, resp), webappCB, a.State)
	if code == "" {
		t.Fatal("no code")
	}

	// The picker outranks the app's ui_locales from then on, and its way
	// back drops the parameter that would choose French again.
	resp, _ = get(t, c, s.issuer+"/_gatehouse/language?lang=de", http.Header{"Referer": {signInURL}})
	back := resp.Header.Get("Location")
	backURL, _ := url.Parse(back)
	if resp.StatusCode != http.StatusSeeOther || backURL == nil || backURL.Query().Has("ui_locales") || backURL.Path != "/_gatehouse/signin" || backURL.Query().Get("rd") != rd {
		t.Fatalf("picker: %d to %q", resp.StatusCode, back)
	}
	if ck := cookieNamed(resp, "ui_locales"); ck == nil || ck.MaxAge >= 0 {
		t.Errorf("the flow cookie is not cleared: %+v", ck)
	}
	_, body = get(t, c, s.issuer+back, http.Header{"Accept-Language": {"fr"}})
	wantPage(t, "after the picker", body, "de", "ltr", "Anmelden")

	// Cognito's /login takes lang.
	j := testenv.Browser(t)
	q := url.Values{"client_id": {"webapp"}, "response_type": {"code"}, "redirect_uri": {webappCB}, "scope": {"openid"}, "lang": {"ja"}}
	resp, body = get(t, j, s.issuer+"/login?"+q.Encode(), de)
	loc, err = resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("/login: %d\n%s", resp.StatusCode, body)
	}
	_, body = get(t, j, s.issuer+loc.RequestURI(), de)
	wantPage(t, "Cognito lang", body, "ja", "ltr", "サインイン")

	// A ui_locales the pool lacks leaves Accept-Language to decide.
	x := testenv.Browser(t)
	b := webapp.Start(oauth2.SetAuthURLParam("ui_locales", "tlh"))
	resp, _ = get(t, x, b.URL, de)
	_, body = get(t, x, s.issuer+mustLocation(t, resp).RequestURI(), de)
	wantPage(t, "unknown ui_locales", body, "de", "ltr", "Anmelden")
}

func mustLocation(t *testing.T, resp *http.Response) *url.URL {
	t.Helper()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("status %d, no Location: %v", resp.StatusCode, err)
	}
	return loc
}
