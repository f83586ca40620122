package hostedui

import (
	"crypto/sha256"
	"encoding/base64"
	"io/fs"
	"net/http"
	"strings"
)

// staticFiles serves the embedded assets. The set of files is fixed at build
// time, so it is indexed once: anything not in the index (a directory, a
// missing file, "..") is a 404 before the file server sees it, and every file
// gets a strong ETag from its content, as embedded files have no mtime.
type staticFiles struct {
	etags  map[string]string
	server http.Handler
}

func newStaticFiles(fsys fs.FS, prefix string) (*staticFiles, error) {
	etags := map[string]string{}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		etags[name] = `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &staticFiles{
		etags:  etags,
		server: http.StripPrefix(strings.TrimSuffix(prefix, "/"), http.FileServerFS(fsys)),
	}, nil
}

func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.methodNotAllowed(w, r, "GET, HEAD")
		return
	}
	etag, ok := h.static.etags[strings.TrimPrefix(r.URL.Path, staticPath)]
	if !ok {
		h.notFound(w, r)
		return
	}
	hdr := w.Header()
	setSecurityHeaders(hdr)
	hdr.Set("Cache-Control", "public, max-age=3600")
	hdr.Set("ETag", etag) // http.FileServer answers If-None-Match with it
	h.static.server.ServeHTTP(w, r)
}
