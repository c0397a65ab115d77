package httpx

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Test doubles for the guard. Nothing here touches the network: names are
// answered from a map and "connections" are net.Pipe halves served by an
// in-process HTTP/1.1 responder.

const testTimeout = 5 * time.Second

// fakeResolver answers lookups from a fixed table and records every query.
type fakeResolver struct {
	t       *testing.T
	answers map[string][]string

	mu      sync.Mutex
	queries []string
}

func newFakeResolver(t *testing.T, answers map[string][]string) *fakeResolver {
	return &fakeResolver{t: t, answers: answers}
}

func (r *fakeResolver) lookup(_ context.Context, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	r.queries = append(r.queries, host)
	r.mu.Unlock()
	ips, ok := r.answers[host]
	if !ok {
		r.t.Errorf("unexpected DNS lookup for %q", host)
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	addrs := make([]netip.Addr, len(ips))
	for i, ip := range ips {
		addrs[i] = netip.MustParseAddr(ip)
	}
	return addrs, nil
}

func (r *fakeResolver) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.queries...)
}

// fakeDialer records every address it is asked to dial. With a handler it
// serves HTTP/1.1 over a net.Pipe; without one, any dial fails the test.
type fakeDialer struct {
	t       *testing.T
	handler http.Handler

	mu    sync.Mutex
	addrs []string
}

func (d *fakeDialer) dial(_ context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	if network != "tcp" {
		d.t.Errorf("dial network = %q, want tcp", network)
	}
	if d.handler == nil {
		d.t.Errorf("dialer must not be called, but was asked for %q", addr)
		return nil, errors.New("fake dialer: refusing")
	}
	client, server := net.Pipe()
	go servePipe(server, d.handler)
	return client, nil
}

func (d *fakeDialer) seen() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

// servePipe is a tiny HTTP/1.1 server for one connection: it reads requests
// with http.ReadRequest and answers each with h until the peer goes away.
func servePipe(conn net.Conn, h http.Handler) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		res := rec.Result()
		if cl := rec.Header().Get("Content-Length"); cl == "" && !rec.Flushed {
			res.ContentLength = int64(rec.Body.Len())
		}
		if err := res.Write(conn); err != nil || res.Close || res.ContentLength < 0 {
			return
		}
	}
}

// newTestWebhookClient wires a webhook client to the fakes.
func newTestWebhookClient(t *testing.T, r *fakeResolver, d *fakeDialer) *http.Client {
	t.Helper()
	c := newWebhookClient(testTimeout, guard{lookup: r.lookup, dial: d.dial})
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func okHandler(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, body)
	})
}

// requirePrivateAddressErr checks err is exactly the opaque sentinel, as the
// *url.Error's Err, and that no IP leaked into the message.
func requirePrivateAddressErr(t *testing.T, err error, leaks ...string) {
	t.Helper()
	if !errors.Is(err, ErrPrivateAddress) {
		t.Fatalf("err = %v, want ErrPrivateAddress", err)
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Fatalf("err = %T %v, want *url.Error", err, err)
	}
	if ue.Err != ErrPrivateAddress {
		t.Fatalf("url.Error.Err = %T %q, want exactly ErrPrivateAddress", ue.Err, ue.Err)
	}
	for _, s := range leaks {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("error text %q leaks %q", err.Error(), s)
		}
	}
}

func transportOf(t *testing.T, c *http.Client) *http.Transport {
	t.Helper()
	switch tr := c.Transport.(type) {
	case *http.Transport:
		return tr
	case *webhookTransport:
		return tr.base
	default:
		panic(fmt.Sprintf("unexpected transport %T", c.Transport))
	}
}
