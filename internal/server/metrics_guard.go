package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/netip"
	"strings"

	"github.com/wisehosting/wisehosting/internal/httpx"
)

// metricsGuard keeps /metrics from the public: the series name every
// worker, the job backlog and the request rates, which is reconnaissance
// for anyone on the internet. With a token, every scraper must present it
// (Prometheus: `authorization: {credentials: …}`); without one, only
// clients on this machine's loopback get an answer. Others get a plain
// 404, as if there were nothing there.
//
// A reverse proxy on the same machine makes every client look local
// unless it is listed in --trusted-proxies (then its X-Forwarded-For
// names the client); the README says to list it or set a token.
func metricsGuard(token string, trusted []netip.Prefix, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == "" {
			if ip := httpx.ClientIP(r, trusted); !ip.IsValid() || !ip.IsLoopback() {
				http.NotFound(w, r)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		// Hashing first makes the comparison constant-time whatever the
		// lengths.
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "metrics need the bearer token set with --metrics-token\n", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
