// Package httpx builds the outbound HTTP clients WiseHosting uses.
//
// There are two flavours:
//
//   - NewSecureClient is for talking to our own infrastructure (the worker
//     agent registering with, and refreshing against, the control plane).
//     It pins TLS 1.3, forces HTTP/2 and honours the standard proxy
//     environment variables, because workers often live behind corporate
//     egress proxies.
//   - NewWebhookClient is for talking to URLs chosen by users (outbound
//     webhooks). It has the same TLS posture, but treats the destination as
//     hostile: it refuses to connect to private or reserved addresses (SSRF
//     guard, see ssrf.go), ignores proxy environment variables, re-checks
//     every redirect hop and caps the response body size.
package httpx

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"syscall"
	"time"
)

// Transport settings shared by every client built here. They are constants
// so that a test can pin them and catch accidental regressions.
const (
	dialTimeout           = 10 * time.Second
	dialKeepAlive         = 30 * time.Second
	tlsHandshakeTimeout   = 10 * time.Second
	responseHeaderTimeout = 30 * time.Second
	idleConnTimeout       = 90 * time.Second
	maxIdleConns          = 50
	maxIdleConnsPerHost   = 10
)

// NewSecureTLSConfig returns a fresh TLS configuration that only negotiates
// TLS 1.3. Everything else is left at Go's (secure) defaults. A new value is
// returned on every call because *tls.Config is mutable and must not be
// shared between unrelated transports.
func NewSecureTLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13}
}

// NewSecureClient returns an HTTP client for talking to WiseHosting's own
// HTTPS endpoints (e.g. worker register/refresh). The overall request
// deadline is timeout; dial, TLS handshake and response-header waits are
// bounded separately so a stalled peer is detected early.
//
// Unlike NewWebhookClient it honours HTTP_PROXY / HTTPS_PROXY / NO_PROXY:
// the destination is operator-configured and trusted, and workers are often
// deployed behind an egress proxy.
func NewSecureClient(timeout time.Duration) *http.Client {
	tr := newTransport(newDialer(nil).DialContext)
	tr.Proxy = http.ProxyFromEnvironment
	return &http.Client{Timeout: timeout, Transport: tr}
}

// newDialer returns the TCP dialer used by every client. control, if not
// nil, runs on the raw socket just before connect(2).
func newDialer(control func(ctx context.Context, network, address string, c syscall.RawConn) error) *net.Dialer {
	return &net.Dialer{
		Timeout:        dialTimeout,
		KeepAlive:      dialKeepAlive,
		ControlContext: control,
	}
}

// newTransport returns an *http.Transport with our TLS posture, pool sizes
// and timeouts, dialing through dial. Proxy is left nil; callers that want
// proxy support opt in explicitly.
func newTransport(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Transport {
	return &http.Transport{
		DialContext:     dial,
		TLSClientConfig: NewSecureTLSConfig(),
		// A custom DialContext and TLSClientConfig would otherwise
		// silently disable HTTP/2.
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          maxIdleConns,
		MaxIdleConnsPerHost:   maxIdleConnsPerHost,
		IdleConnTimeout:       idleConnTimeout,
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ResponseHeaderTimeout: responseHeaderTimeout,
	}
}
