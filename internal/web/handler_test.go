package web

import (
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

const indexHTML = `<!doctype html><html><head><script src="/theme.js"></script>` +
	`<script type="module" src="/assets/index-abc123.js"></script></head><body><div id="root"></div></body></html>`

func testFS() fstest.MapFS {
	return fstest.MapFS{
		"index.html":              {Data: []byte(indexHTML)},
		"theme.js":                {Data: []byte("document.documentElement.dataset.theme='light'")},
		"favicon.svg":             {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"></svg>`)},
		"assets/index-abc123.js":  {Data: []byte(strings.Repeat("console.log('dashboard');\n", 200))},
		"assets/index-def456.css": {Data: []byte("body{margin:0}")},
	}
}

func newTestHandler(t *testing.T) *Handler {
	t.Helper()
	h, err := New(testFS())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func do(h http.Handler, method, path string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestServes(t *testing.T) {
	h := newTestHandler(t)
	cases := []struct {
		name, method, path string
		code               int
		cache              string
		ctype              string
		body               string // substring
	}{
		{"root is index.html", "GET", "/", 200, "no-cache", "text/html", `<div id="root">`},
		{"index.html itself", "GET", "/index.html", 200, "no-cache", "text/html", `<div id="root">`},
		{"client route falls back to index.html", "GET", "/apps/web/logs", 200, "no-cache", "text/html", `<div id="root">`},
		{"deep client route with a query", "GET", "/apps/new?from=x", 200, "no-cache", "text/html", `<div id="root">`},
		{"hashed script is cached for a year", "GET", "/assets/index-abc123.js", 200, "public, max-age=31536000, immutable", "text/javascript", "console.log"},
		{"hashed stylesheet is cached for a year", "GET", "/assets/index-def456.css", 200, "public, max-age=31536000, immutable", "text/css", "margin:0"},
		{"unhashed theme script is revalidated", "GET", "/theme.js", 200, "no-cache", "text/javascript", "dataset.theme"},
		{"icon", "GET", "/favicon.svg", 200, "no-cache", "image/svg+xml", "<svg"},
		{"missing asset is a 404, not the page", "GET", "/assets/index-old999.js", 404, "no-store", "text/plain", "not found"},
		{"path cleaning cannot escape", "GET", "/assets/../index.html", 200, "no-cache", "text/html", `<div id="root">`},
		{"HEAD works", "HEAD", "/apps", 200, "no-cache", "text/html", ""},
		{"writes are refused", "POST", "/apps", 405, "", "text/plain", "method not allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := do(h, c.method, c.path)
			if rec.Code != c.code {
				t.Fatalf("status %d, want %d", rec.Code, c.code)
			}
			if got := rec.Header().Get("Cache-Control"); c.cache != "" && got != c.cache {
				t.Errorf("Cache-Control %q, want %q", got, c.cache)
			}
			if got := rec.Header().Get("Content-Type"); !strings.HasPrefix(got, c.ctype) {
				t.Errorf("Content-Type %q, want %s…", got, c.ctype)
			}
			if !strings.Contains(rec.Body.String(), c.body) {
				t.Errorf("body %q does not contain %q", rec.Body.String(), c.body)
			}
			if c.method == "HEAD" && rec.Body.Len() != 0 {
				t.Errorf("HEAD answered with a body")
			}
		})
	}
}

func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	h := newTestHandler(t)
	for _, path := range []string{"/", "/apps/x", "/assets/index-abc123.js", "/assets/missing.js", "/theme.js"} {
		rec := do(h, "GET", path)
		csp := rec.Header().Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows inline code: %q", path, csp)
		}
		if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", path, got)
		}
		if got := rec.Header().Get("Referrer-Policy"); got != "same-origin" {
			t.Errorf("%s: Referrer-Policy %q", path, got)
		}
		if got := rec.Header().Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("%s: X-Frame-Options %q", path, got)
		}
	}
}

func TestGzipAndETag(t *testing.T) {
	h := newTestHandler(t)
	plain := do(h, "GET", "/assets/index-abc123.js")
	zipped := do(h, "GET", "/assets/index-abc123.js", "Accept-Encoding", "br, gzip")
	if zipped.Header().Get("Content-Encoding") != "gzip" || zipped.Header().Get("Vary") != "Accept-Encoding" {
		t.Fatalf("no gzip: %v", zipped.Header())
	}
	zr, err := gzip.NewReader(zipped.Body)
	if err != nil {
		t.Fatal(err)
	}
	unzipped, _ := io.ReadAll(zr)
	if string(unzipped) != plain.Body.String() {
		t.Fatal("gzipped body differs from the plain one")
	}
	if zipped.Body.Len() >= plain.Body.Len() {
		t.Errorf("gzip did not shrink: %d >= %d", zipped.Body.Len(), plain.Body.Len())
	}
	if plain.Header().Get("ETag") == "" || plain.Header().Get("ETag") == zipped.Header().Get("ETag") {
		t.Errorf("ETags: plain %q, gzip %q", plain.Header().Get("ETag"), zipped.Header().Get("ETag"))
	}
	if rec := do(h, "GET", "/assets/index-abc123.js", "Accept-Encoding", "gzip;q=0"); rec.Header().Get("Content-Encoding") != "" {
		t.Error("gzip sent although refused with q=0")
	}
	// Revalidation of index.html answers 304 without a body.
	first := do(h, "GET", "/")
	again := do(h, "GET", "/apps", "If-None-Match", first.Header().Get("ETag"))
	if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
		t.Errorf("revalidation: %d with %d bytes", again.Code, again.Body.Len())
	}
}

func TestNewNeedsIndex(t *testing.T) {
	if _, err := New(fstest.MapFS{"assets/a.js": {Data: []byte("x")}}); err == nil {
		t.Fatal("New accepted a build without index.html")
	}
}

// The dashboard embedded in the binary is a real build: its index.html
// loads only files that are embedded too, with no inline script.
func TestEmbeddedBuild(t *testing.T) {
	h, err := Dashboard()
	if err != nil {
		t.Fatal(err)
	}
	rec := do(h, "GET", "/")
	if rec.Code != 200 {
		t.Fatalf("GET /: %d", rec.Code)
	}
	html := rec.Body.String()
	refs := 0
	for _, attr := range []string{`src="`, `href="`} {
		for rest := html; ; {
			i := strings.Index(rest, attr)
			if i < 0 {
				break
			}
			rest = rest[i+len(attr):]
			ref := rest[:strings.IndexByte(rest, '"')]
			if !strings.HasPrefix(ref, "/") {
				t.Errorf("index.html refers to %q: not a same-origin absolute path", ref)
				continue
			}
			refs++
			if got := do(h, "GET", ref); got.Code != 200 {
				t.Errorf("index.html refers to %s, which answers %d", ref, got.Code)
			}
		}
	}
	if refs < 3 {
		t.Errorf("index.html refers to %d files; want the theme script, the app script and the stylesheet", refs)
	}
	if strings.Contains(strings.ReplaceAll(html, `<script src=`, ""), "<script>") {
		t.Error("index.html has an inline script, which the CSP blocks")
	}
	if !strings.Contains(html, `<script src="/theme.js">`) {
		t.Error("index.html does not load /theme.js (the no-flash theme) in <head>")
	}
}

// Every file of the build on disk is embedded and served (a chunk whose
// name starts with "_" or "." would be left out by a plain //go:embed).
func TestEveryBuiltFileIsServed(t *testing.T) {
	h, err := Dashboard()
	if err != nil {
		t.Fatal(err)
	}
	disk := os.DirFS(filepath.Join("..", "..", "web", "dist"))
	n := 0
	err = fs.WalkDir(disk, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		want, _ := fs.ReadFile(disk, p)
		rec := do(h, "GET", "/"+p)
		if rec.Code != 200 || rec.Body.String() != string(want) {
			t.Errorf("/%s: %d, %d bytes; want the %d bytes on disk", p, rec.Code, rec.Body.Len(), len(want))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 3 {
		t.Fatalf("only %d files in web/dist", n)
	}
}
