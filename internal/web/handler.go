// Package web serves the dashboard (the React single-page app built into
// web/dist) from memory: hashed assets are cached for a year, index.html
// and the other unhashed files are revalidated on every load, client routes
// fall back to index.html, and every answer carries a strict
// Content-Security-Policy.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	webfiles "github.com/wisehosting/wisehosting/web"
)

// CSP allows only the dashboard's own origin: no inline scripts or styles,
// no third-party hosts, no framing. The theme is applied before first paint
// by /theme.js, an ordinary same-origin script.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Cache-Control values.
const (
	cacheImmutable  = "public, max-age=31536000, immutable" // content-hashed names under /assets/
	cacheRevalidate = "no-cache"                            // index.html, theme.js, icons
)

// file is one built file, kept in memory with its gzipped form when that
// is smaller.
type file struct {
	name  string
	body  []byte
	gz    []byte
	ctype string
	etag  string
	cache string
}

// Handler serves the dashboard.
type Handler struct {
	files map[string]*file // by path without the leading slash
	index *file
}

// Dashboard serves the dashboard embedded in the binary.
func Dashboard() (*Handler, error) { return New(webfiles.Dist()) }

// New loads every file of fsys (a built dist/ folder) into memory.
func New(fsys fs.FS) (*Handler, error) {
	h := &Handler{files: map[string]*file{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		h.files[p] = newFile(p, body)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: load dashboard: %w", err)
	}
	h.index = h.files["index.html"]
	if h.index == nil {
		return nil, errors.New("web: load dashboard: index.html is missing (run make web-build)")
	}
	return h, nil
}

func newFile(name string, body []byte) *file {
	sum := sha256.Sum256(body)
	f := &file{name: name, body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, cache: cacheRevalidate}
	if strings.HasPrefix(name, "assets/") {
		f.cache = cacheImmutable
	}
	f.ctype = contentTypes[path.Ext(name)]
	if f.ctype == "" {
		f.ctype = mime.TypeByExtension(path.Ext(name))
	}
	if f.ctype == "" {
		f.ctype = http.DetectContentType(body)
	}
	if compressible(f.ctype) && len(body) > 512 {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		_, _ = zw.Write(body)
		_ = zw.Close()
		if b.Len() < len(body) {
			f.gz = b.Bytes()
		}
	}
	return f
}

// contentTypes fixes the types of what Vite emits, whatever the machine's
// /etc/mime.types says.
var contentTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".json":  "application/json",
	".txt":   "text/plain; charset=utf-8",
	".woff2": "font/woff2",
}

func compressible(ctype string) bool {
	for _, p := range []string{"text/", "application/javascript", "text/javascript", "application/json", "image/svg+xml", "application/manifest+json"} {
		if strings.HasPrefix(ctype, p) {
			return true
		}
	}
	return false
}

func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// ServeHTTP answers GET and HEAD: a built file by its path, a 404 for a
// missing asset, and index.html for everything else (the app's routes).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	setSecurityHeaders(hdr)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	f := h.files[name]
	switch {
	case f != nil:
	case name == "" || name == "index.html":
		f = h.index
	case strings.HasPrefix(name, "assets/"):
		// An old page asking for an asset of a previous build: falling back
		// to HTML would only confuse the browser.
		hdr.Set("Cache-Control", "no-store")
		http.Error(w, "not found", http.StatusNotFound)
		return
	default:
		f = h.index
	}
	h.serveFile(w, r, f)
}

func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, f *file) {
	hdr := w.Header()
	hdr.Set("Content-Type", f.ctype)
	hdr.Set("Cache-Control", f.cache)
	body, etag := f.body, f.etag
	if f.gz != nil {
		hdr.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			body, etag = f.gz, strings.TrimSuffix(f.etag, `"`)+`-gz"`
			hdr.Set("Content-Encoding", "gzip")
		}
	}
	hdr.Set("ETag", etag)
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(body))
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(strings.TrimSpace(q), " ", "") != "q=0" {
			return true
		}
	}
	return false
}
