package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"strings"
)

// metricsGuard keeps /metrics from the public: the series name every
// worker, the job backlog and the request rates, which is reconnaissance
// for anyone on the internet. With a token, every scraper must present it
// (Prometheus: `authorization: {credentials: …}`); without one, only
// clients on this machine's loopback get an answer. Others get a plain
// 404, as if there were nothing there.
//
// A reverse proxy on the same machine makes every client look local: an
// operator who puts one in front should set a token (README says so).
func metricsGuard(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == "" {
			if !loopbackClient(r) {
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

// loopbackClient reports whether r came over a connection from a loopback
// address (the peer itself, never a forwarded-for header).
func loopbackClient(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
