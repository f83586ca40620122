package hostedui

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse-auth/gatehouse/brand"
)

// brandPath is where the pool's and its clients' brand assets are served
// (package brand), under content-hashed names.
const brandPath = brand.PathPrefix

// authorizeSuffix ends the path of the authorization request a sign-in
// resumes (oidc.AuthorizePath): its client_id says whose pages these are.
const authorizeSuffix = "/oauth2/authorize"

// brandAssetPolicy is the Content-Security-Policy of every brand asset: an
// operator's SVG opened on its own runs no script and loads nothing (the
// sandbox also gives it an opaque origin), and as an <img> it never could.
const brandAssetPolicy = "default-src 'none'; style-src 'unsafe-inline'; sandbox"

// variantKey names one ready copy of a page: the page as h.pages holds it
// (the default language's, the key render is given), a language, and the
// app client whose brand it shows ("" for the pool's).
type variantKey struct {
	page   *template.Template
	lang   string
	client string
}

// setBrands readies the pool's brand and its clients' in every language:
// the templates function "brand" gives the page's brand; each client with
// a brand of its own gets its own copy of each language's pages.
func (h *Handler) setBrands(poolBrand *brand.Brand, clients map[string]*brand.Brand) error {
	h.brandAssets = map[string]*brand.Asset{}
	add := func(b *brand.Brand) {
		for _, a := range b.Assets() {
			h.brandAssets[a.URL] = a
		}
	}
	add(poolBrand)
	for _, b := range clients {
		add(b)
	}
	h.variants = map[variantKey]*template.Template{}
	h.clientBranded = len(clients) > 0
	keys := h.pages.all()
	for tag, lp := range h.langs {
		for i, t := range lp.all() {
			(*t).Funcs(template.FuncMap{"brand": func() *brand.Brand { return poolBrand }})
			h.variants[variantKey{*keys[i], tag, ""}] = *t
		}
	}
	for id, b := range clients {
		for tag, lp := range h.langs {
			for i, t := range lp.all() {
				c, err := (*t).Clone()
				if err != nil {
					return fmt.Errorf("client %s: %w", id, err)
				}
				c.Funcs(template.FuncMap{"brand": func() *brand.Brand { return b }})
				h.variants[variantKey{*keys[i], tag, id}] = c
			}
		}
	}
	return nil
}

// all lists the pages, to prepare each alike.
func (p *pages) all() []**template.Template {
	table := p.table()
	out := make([]**template.Template, len(table))
	for i, pg := range table {
		out[i] = pg.slot
	}
	return out
}

// pageFor is t in r's language (lang) and as the app client of r's flow
// brands it: the client of the authorization request the page goes back to
// (rd), or that r itself is (the provider's error pages). The account page
// is the pool's. A map lookup: every copy was made at New.
func (h *Handler) pageFor(r *http.Request, t *template.Template) *template.Template {
	tag := h.lang(r).Tag
	if h.clientBranded && r.URL.Path != AccountPath {
		if c := flowClient(r); c != "" {
			if v := h.variants[variantKey{t, tag, c}]; v != nil {
				return v
			}
		}
	}
	if v := h.variants[variantKey{t, tag, ""}]; v != nil {
		return v
	}
	return t
}

// flowClient names the app client a hosted page is shown for, "" for none.
// It reads only what the request already holds: the form is parsed by the
// handlers that have one.
func flowClient(r *http.Request) string {
	if strings.HasSuffix(r.URL.Path, authorizeSuffix) {
		return r.URL.Query().Get("client_id")
	}
	rd := r.URL.Query().Get("rd")
	if rd == "" && r.PostForm != nil {
		rd = r.PostForm.Get("rd")
	}
	return returnClient(rd)
}

// returnClient is the app client of the authorization request rd returns
// to: a local /oauth2/authorize URL's client_id, else "".
func returnClient(rd string) string {
	if rd == "" {
		return ""
	}
	u, err := url.Parse(rd)
	if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasSuffix(u.Path, authorizeSuffix) {
		return ""
	}
	return u.Query().Get("client_id")
}

// serveBrand answers for one brand asset. Only the URLs of loaded assets
// exist, so no name reaches a file system.
func (h *Handler) serveBrand(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.methodNotAllowed(w, r, "GET, HEAD")
		return
	}
	a, ok := h.brandAssets[r.URL.Path]
	if !ok {
		h.notFound(w, r)
		return
	}
	hdr := w.Header()
	setSecurityHeaders(hdr)
	hdr.Set("Content-Security-Policy", brandAssetPolicy)
	hdr.Set("Content-Type", a.ContentType)
	// The URL names the content: it never changes.
	hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	hdr.Set("ETag", a.ETag)
	hdr.Set("Cross-Origin-Resource-Policy", "same-origin")
	if inm := r.Header.Get("If-None-Match"); inm != "" && inm == a.ETag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr.Set("Content-Length", strconv.Itoa(len(a.Body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(a.Body)
	}
}
