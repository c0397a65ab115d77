package httpx

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
)

const (
	publicV4 = "93.184.216.34"
	publicV6 = "2606:2800:220:1:248:1893:25c8:1946"
)

func TestIsPrivateIP(t *testing.T) {
	tests := []struct {
		name    string
		addr    string
		private bool
	}{
		// IPv4 refused.
		{"this network 0.0.0.0", "0.0.0.0", true},
		{"this network 0.255.255.255", "0.255.255.255", true},
		{"loopback 127.0.0.1", "127.0.0.1", true},
		{"loopback 127.255.255.254", "127.255.255.254", true},
		{"rfc1918 10.0.0.0", "10.0.0.0", true},
		{"rfc1918 10.255.255.255", "10.255.255.255", true},
		{"rfc1918 172.16.0.1", "172.16.0.1", true},
		{"rfc1918 172.31.255.255", "172.31.255.255", true},
		{"rfc1918 192.168.0.1", "192.168.0.1", true},
		{"rfc1918 192.168.255.255", "192.168.255.255", true},
		{"cgnat 100.64.0.1", "100.64.0.1", true},
		{"cgnat 100.127.255.255", "100.127.255.255", true},
		{"link-local metadata 169.254.169.254", "169.254.169.254", true},
		{"link-local 169.254.0.1", "169.254.0.1", true},
		{"ietf protocol 192.0.0.1", "192.0.0.1", true},
		{"test-net-1 192.0.2.1", "192.0.2.1", true},
		{"6to4 relay anycast 192.88.99.1", "192.88.99.1", true},
		{"benchmarking 198.18.0.1", "198.18.0.1", true},
		{"benchmarking 198.19.255.255", "198.19.255.255", true},
		{"test-net-2 198.51.100.1", "198.51.100.1", true},
		{"test-net-3 203.0.113.1", "203.0.113.1", true},
		{"multicast 224.0.0.1", "224.0.0.1", true},
		{"multicast 239.255.255.250", "239.255.255.250", true},
		{"reserved 240.0.0.1", "240.0.0.1", true},
		{"broadcast 255.255.255.255", "255.255.255.255", true},

		// IPv4 allowed, including the neighbours of refused ranges.
		{"public 93.184.216.34", publicV4, false},
		{"public 8.8.8.8", "8.8.8.8", false},
		{"public 1.1.1.1", "1.1.1.1", false},
		{"public 172.32.0.1", "172.32.0.1", false},
		{"public 172.15.255.255", "172.15.255.255", false},
		{"public 100.63.255.255", "100.63.255.255", false},
		{"public 100.128.0.0", "100.128.0.0", false},
		{"public 11.0.0.0", "11.0.0.0", false},
		{"public 126.255.255.255", "126.255.255.255", false},
		{"public 128.0.0.0", "128.0.0.0", false},
		{"public 169.253.255.255", "169.253.255.255", false},
		{"public 192.167.255.255", "192.167.255.255", false},
		{"public 192.169.0.0", "192.169.0.0", false},
		{"public 198.17.255.255", "198.17.255.255", false},
		{"public 198.20.0.0", "198.20.0.0", false},
		{"public 223.255.255.255", "223.255.255.255", false},

		// IPv6 refused.
		{"unspecified ::", "::", true},
		{"loopback ::1", "::1", true},
		{"ipv4-compatible ::7f00:1", "::7f00:1", true},
		{"ipv4-compatible of public ::5db8:d822", "::5db8:d822", true},
		{"discard-only 100::1", "100::1", true},
		{"unique-local fc00::1", "fc00::1", true},
		{"unique-local fd12:3456::1", "fd12:3456::1", true},
		{"link-local fe80::1", "fe80::1", true},
		{"link-local with zone fe80::1%eth0", "fe80::1%eth0", true},
		{"public with zone", publicV6 + "%eth0", true},
		{"site-local fec0::1", "fec0::1", true},
		{"multicast ff02::1", "ff02::1", true},
		{"multicast ff0e::1", "ff0e::1", true},
		{"teredo 2001::1", "2001::1", true},
		{"teredo 2001:0:4136:e378::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", true},
		{"benchmarking 2001:2::1", "2001:2::1", true},
		{"documentation 2001:db8::1", "2001:db8::1", true},
		{"documentation 3fff::1", "3fff::1", true},
		{"local-use nat64 64:ff9b:1::1", "64:ff9b:1::1", true},
		{"siit translated ::ffff:0:7f00:1", "::ffff:0:7f00:1", true},
		{"outside 2000::/3 4000::1", "4000::1", true},
		{"srv6 5f00::1", "5f00::1", true},

		// IPv6 forms wrapping a refused IPv4 address.
		{"mapped loopback ::ffff:127.0.0.1", "::ffff:127.0.0.1", true},
		{"mapped metadata ::ffff:a9fe:a9fe", "::ffff:a9fe:a9fe", true},
		{"mapped rfc1918 ::ffff:10.0.0.1", "::ffff:10.0.0.1", true},
		{"nat64 loopback 64:ff9b::7f00:1", "64:ff9b::7f00:1", true},
		{"nat64 metadata 64:ff9b::a9fe:a9fe", "64:ff9b::a9fe:a9fe", true},
		{"nat64 unspecified 64:ff9b::", "64:ff9b::", true},
		{"6to4 loopback 2002:7f00:1::", "2002:7f00:1::", true},
		{"6to4 metadata 2002:a9fe:a9fe::1", "2002:a9fe:a9fe::1", true},
		{"6to4 rfc1918 2002:c0a8:101::1", "2002:c0a8:101::1", true},

		// IPv6 allowed, including translation forms of a public IPv4.
		{"public v6", publicV6, false},
		{"public v6 google dns", "2001:4860:4860::8888", false},
		{"public 2001:200::1 (just past 2001::/23)", "2001:200::1", false},
		{"mapped public", "::ffff:" + publicV4, false},
		{"nat64 public", "64:ff9b::5db8:d822", false},
		{"6to4 public", "2002:5db8:d822::1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isPrivateIP(netip.MustParseAddr(tt.addr)); got != tt.private {
				t.Errorf("isPrivateIP(%s) = %v, want %v", tt.addr, got, tt.private)
			}
		})
	}
	t.Run("invalid zero Addr", func(t *testing.T) {
		if !isPrivateIP(netip.Addr{}) {
			t.Error("isPrivateIP(netip.Addr{}) = false, want true")
		}
	})
}

func TestParseLegacyIPv4(t *testing.T) {
	tests := []struct {
		host string
		want string // "" means not an IPv4 address
	}{
		{"2130706433", "127.0.0.1"},
		{"0x7f000001", "127.0.0.1"},
		{"0X7F000001", "127.0.0.1"},
		{"017700000001", "127.0.0.1"},
		{"0177.0.0.1", "127.0.0.1"},
		{"127.1", "127.0.0.1"},
		{"0x7f.1", "127.0.0.1"},
		{"127.0.1", "127.0.0.1"},
		{"127.000.000.001", "127.0.0.1"},
		{"0x7f.0x0.0x0.0x1", "127.0.0.1"},
		{"127.0.0.1.", "127.0.0.1"},
		{"169.16689662", "169.254.169.254"},
		{"0", "0.0.0.0"},
		{"0x", "0.0.0.0"},
		{"4294967295", "255.255.255.255"},
		{"1572395042", publicV4},
		{"4294967296", ""},
		{"256.0.0.1", ""},
		{"1.2.3.256", ""},
		{"1.2.65536", ""},
		{"1.16777216", ""},
		{"1.2.3.4.5", ""},
		{"08.0.0.1", ""},
		{"0xg", ""},
		{"1..1", ""},
		{"", ""},
		{"+1", ""},
		{"1_0", ""},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			got, ok := parseLegacyIPv4(tt.host)
			if tt.want == "" {
				if ok {
					t.Errorf("parseLegacyIPv4(%q) = %v, want failure", tt.host, got)
				}
				return
			}
			if !ok || got != netip.MustParseAddr(tt.want) {
				t.Errorf("parseLegacyIPv4(%q) = %v, %v; want %s", tt.host, got, ok, tt.want)
			}
		})
	}
}

func TestEndsInNumber(t *testing.T) {
	for host, want := range map[string]bool{
		"2130706433":        true,
		"0x7f.1":            true,
		"foo.123":           true,
		"127.0.0.1.":        true,
		"0x":                true,
		"hooks.example.com": false,
		"1e100.net":         false,
		"deadbeef":          false,
		"0xg":               false,
		"example.com.":      false,
		"":                  false,
	} {
		if got := endsInNumber(host); got != want {
			t.Errorf("endsInNumber(%q) = %v, want %v", host, got, want)
		}
	}
}

// TestWebhookClientRefuses drives every refused destination through the full
// client. The fake dialer fails the test if it is called at all.
func TestWebhookClientRefuses(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		answers map[string][]string // fake DNS; nil means no lookup is allowed
		leak    string              // must not appear in the error text
	}{
		{"loopback 127.0.0.1", "http://127.0.0.1/", nil, ""},
		{"loopback 127.255.255.254", "http://127.255.255.254/", nil, ""},
		{"loopback with port", "http://127.0.0.1:8080/hook", nil, ""},
		{"loopback https", "https://127.0.0.1/", nil, ""},
		{"localhost v4 and v6", "http://localhost/", map[string][]string{"localhost": {"127.0.0.1", "::1"}}, "127.0.0.1"},
		{"localhost v6 only", "http://localhost/", map[string][]string{"localhost": {"::1"}}, "::1"},
		{"unspecified 0.0.0.0", "http://0.0.0.0/", nil, ""},
		{"unspecified [::]", "http://[::]/", nil, ""},
		{"loopback [::1]", "http://[::1]/", nil, ""},
		{"rfc1918 10.0.0.1", "http://10.0.0.1/", nil, ""},
		{"rfc1918 10.255.255.255", "http://10.255.255.255/", nil, ""},
		{"rfc1918 172.16.0.1", "http://172.16.0.1/", nil, ""},
		{"rfc1918 172.31.255.255", "http://172.31.255.255/", nil, ""},
		{"rfc1918 192.168.0.1", "http://192.168.0.1/", nil, ""},
		{"rfc1918 192.168.255.255", "http://192.168.255.255/", nil, ""},
		{"cgnat 100.64.0.1", "http://100.64.0.1/", nil, ""},
		{"cgnat 100.127.255.255", "http://100.127.255.255/", nil, ""},
		{"link-local metadata", "http://169.254.169.254/latest/meta-data/", nil, ""},
		{"multicast 224.0.0.1", "http://224.0.0.1/", nil, ""},
		{"multicast 239.255.255.250", "http://239.255.255.250/", nil, ""},
		{"broadcast", "http://255.255.255.255/", nil, ""},
		{"unique-local fc00::1", "http://[fc00::1]/", nil, ""},
		{"unique-local fd00::1", "http://[fd00::1]/", nil, ""},
		{"link-local fe80::1", "http://[fe80::1]/", nil, ""},
		{"link-local fe80::1 with zone", "http://[fe80::1%25eth0]/", nil, ""},
		{"multicast ff02::1", "http://[ff02::1]/", nil, ""},
		{"mapped loopback", "http://[::ffff:127.0.0.1]/", nil, ""},
		{"mapped metadata", "http://[::ffff:a9fe:a9fe]/", nil, ""},
		{"nat64 loopback", "http://[64:ff9b::7f00:1]/", nil, ""},
		{"nat64 metadata", "http://[64:ff9b::a9fe:a9fe]/", nil, ""},
		{"6to4 loopback", "http://[2002:7f00:1::]/", nil, ""},
		{"6to4 metadata", "http://[2002:a9fe:a9fe::1]/", nil, ""},
		{"decimal 2130706433", "http://2130706433/", nil, ""},
		{"hex 0x7f000001", "http://0x7f000001/", nil, ""},
		{"octal 0177.0.0.1", "http://0177.0.0.1/", nil, ""},
		{"short 127.1", "http://127.1/", nil, ""},
		{"short hex 0x7f.1", "http://0x7f.1/", nil, ""},
		{"zero-padded 127.000.000.001", "http://127.000.000.001/", nil, ""},
		{"trailing dot 127.0.0.1.", "http://127.0.0.1./", nil, ""},
		{"short metadata 169.16689662", "http://169.16689662/", nil, ""},
		{"decimal zero", "http://0/", nil, ""},
		{"fullwidth digits", "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", nil, ""},
		{"numeric but not an address 1.2.3.4.5", "http://1.2.3.4.5/", nil, ""},
		{"numeric but not an address 256.1.1.1", "http://256.1.1.1/", nil, ""},
		{"numeric tld", "http://internal.123/", nil, ""},
		{"name resolving to rfc1918", "http://internal.example.com/", map[string][]string{"internal.example.com": {"10.1.2.3"}}, "10.1.2.3"},
		{"name resolving to metadata", "http://meta.example.com/", map[string][]string{"meta.example.com": {"169.254.169.254"}}, "169.254.169.254"},
		{"public and private answers mixed", "http://mixed.example.com/", map[string][]string{"mixed.example.com": {publicV4, "192.168.1.10"}}, "192.168.1.10"},
		{"private answer first", "http://mixed.example.com/", map[string][]string{"mixed.example.com": {"127.0.0.1", publicV4}}, "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newFakeResolver(t, tt.answers)
			d := &fakeDialer{t: t} // no handler: any dial fails the test
			c := newTestWebhookClient(t, r, d)
			resp, err := c.Post(tt.url, "application/json", strings.NewReader(`{"event":"ping"}`))
			if err == nil {
				resp.Body.Close()
				t.Fatal("request succeeded, want ErrPrivateAddress")
			}
			requirePrivateAddressErr(t, err, tt.leak)
			if got := d.seen(); len(got) != 0 {
				t.Fatalf("dialer was asked for %v", got)
			}
		})
	}
}

// TestWebhookClientRefusesWithRealResolver uses the exported constructor
// (net.DefaultResolver + real dialer) against a live loopback server, which
// must never see a request.
func TestWebhookClientRefusesWithRealResolver(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	// leak: the resolved address, which must not appear in the error text
	// (literal hosts are part of the URL, which *url.Error quotes anyway).
	for host, leak := range map[string]string{
		"localhost":          "127.0.0.1",
		"127.0.0.1":          "",
		"2130706433":         "127.0.0.1",
		"127.1":              "127.0.0.1:",
		"[::ffff:127.0.0.1]": "",
	} {
		t.Run(host, func(t *testing.T) {
			c := NewWebhookClient(testTimeout)
			defer c.CloseIdleConnections()
			resp, err := c.Get("http://" + host + ":" + port + "/")
			if err == nil {
				resp.Body.Close()
				t.Fatal("request succeeded, want ErrPrivateAddress")
			}
			requirePrivateAddressErr(t, err, leak)
		})
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("loopback server received %d requests", n)
	}
}

func TestWebhookClientAllowsPublic(t *testing.T) {
	tests := []struct {
		name     string
		url      string
		answers  map[string][]string
		wantDial []string
	}{
		{"public v4 name", "http://hooks.example.com/hook", map[string][]string{"hooks.example.com": {publicV4}}, []string{publicV4 + ":80"}},
		{"public v6 name", "http://hooks.example.com:8443/hook", map[string][]string{"hooks.example.com": {publicV6}}, []string{"[" + publicV6 + "]:8443"}},
		{"public v4 literal", "http://" + publicV4 + "/hook", nil, []string{publicV4 + ":80"}},
		{"public v6 literal", "http://[" + publicV6 + "]/hook", nil, []string{"[" + publicV6 + "]:80"}},
		{"public decimal form", "http://1572395042/hook", nil, []string{publicV4 + ":80"}},
		{"mapped public answer is dialed unmapped", "http://hooks.example.com/hook", map[string][]string{"hooks.example.com": {"::ffff:" + publicV4}}, []string{publicV4 + ":80"}},
		{"172.32.0.1 is public", "http://172.32.0.1/hook", nil, []string{"172.32.0.1:80"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newFakeResolver(t, tt.answers)
			var gotPath string
			d := &fakeDialer{t: t, handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				gotPath = req.RequestURI
				io.WriteString(w, "ok")
			})}
			c := newTestWebhookClient(t, r, d)
			resp, err := c.Post(tt.url, "application/json", strings.NewReader(`{"event":"ping"}`))
			if err != nil {
				t.Fatalf("Post: %v", err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || string(body) != "ok" {
				t.Fatalf("got %d %q %v, want 200 \"ok\"", resp.StatusCode, body, err)
			}
			if gotPath != "/hook" {
				t.Errorf("server saw request URI %q, want /hook", gotPath)
			}
			if got := d.seen(); !slices.Equal(got, tt.wantDial) {
				t.Errorf("dialed %v, want %v", got, tt.wantDial)
			}
		})
	}
}

// TestWebhookClientDNSRebinding: a resolver that turns malicious after the
// first answer must never get us to dial loopback. The name is resolved once
// per connection and the checked literal is what gets dialed.
func TestWebhookClientDNSRebinding(t *testing.T) {
	var lookups atomic.Int32
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		if lookups.Add(1) == 1 {
			return []netip.Addr{netip.MustParseAddr(publicV4)}, nil
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	d := &fakeDialer{t: t, handler: okHandler("ok")}
	c := newWebhookClient(testTimeout, guard{lookup: lookup, dial: d.dial})
	defer c.CloseIdleConnections()

	resp, err := c.Get("http://rebind.example.com/")
	if err != nil {
		t.Fatalf("first request: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n := lookups.Load(); n != 1 {
		t.Fatalf("resolved %d times for one connection, want exactly 1", n)
	}

	// Force a new connection; the second (rebound) answer must be refused.
	c.CloseIdleConnections()
	_, err = c.Get("http://rebind.example.com/")
	requirePrivateAddressErr(t, err, "127.0.0.1")

	if got, want := d.seen(), []string{publicV4 + ":80"}; !slices.Equal(got, want) {
		t.Fatalf("dialed %v, want only %v", got, want)
	}
}

// TestControlGuardRefusesLoopbackDial dials a live loopback listener with the
// production guard's dial function (the one NewWebhookClient uses, bypassing
// the name-level check): the Control hook must stop it before connect.
func TestControlGuardRefusesLoopbackDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()

	conn, err := newSystemGuard().dial(context.Background(), "tcp", ln.Addr().String())
	if err == nil {
		conn.Close()
		t.Fatal("dial to loopback succeeded, want ErrPrivateAddress")
	}
	if !errors.Is(err, ErrPrivateAddress) {
		t.Fatalf("err = %v, want ErrPrivateAddress", err)
	}

	// Defence in depth end to end: even if the name-level check were
	// fooled (the resolver claims a public IP, but the connect goes to
	// loopback), the hook refuses and callers get the bare sentinel.
	var hookHit atomic.Bool
	g := guard{
		lookup: func(context.Context, string) ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr(publicV4)}, nil
		},
		dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			hookHit.Store(true)
			return newSystemGuard().dial(ctx, network, ln.Addr().String())
		},
	}
	c := newWebhookClient(testTimeout, g)
	defer c.CloseIdleConnections()
	_, err = c.Get("http://hooks.example.com/")
	requirePrivateAddressErr(t, err, "127.0.0.1")
	if !hookHit.Load() {
		t.Fatal("dial function was not reached; test did not exercise the Control hook")
	}

	select {
	case <-accepted:
		t.Fatal("loopback listener accepted a connection")
	case <-time.After(50 * time.Millisecond):
	}
}

func TestControlGuard(t *testing.T) {
	for addr, wantErr := range map[string]bool{
		"127.0.0.1:80":                true,
		"[::1]:443":                   true,
		"169.254.169.254:80":          true,
		"[::ffff:10.0.0.1]:80":        true,
		"[fe80::1%eth0]:80":           true,
		"not-an-address":              true,
		publicV4 + ":443":             false,
		"[" + publicV6 + "]:443":      false,
		"[::ffff:" + publicV4 + "]:1": false,
	} {
		err := controlGuard(context.Background(), "tcp", addr, nil)
		if wantErr && err != ErrPrivateAddress {
			t.Errorf("controlGuard(%q) = %v, want ErrPrivateAddress", addr, err)
		}
		if !wantErr && err != nil {
			t.Errorf("controlGuard(%q) = %v, want nil", addr, err)
		}
	}
}

func TestWebhookClientRedirects(t *testing.T) {
	answers := map[string][]string{
		"hooks.example.com":    {publicV4},
		"other.example.com":    {"203.0.114.7"},
		"internal.example.com": {"10.0.0.7"},
	}
	redirectTo := func(loc string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Host == "hooks.example.com" {
				w.Header().Set("Location", loc)
				w.WriteHeader(http.StatusFound)
				return
			}
			io.WriteString(w, "final")
		})
	}

	t.Run("to metadata IP", func(t *testing.T) {
		d := &fakeDialer{t: t, handler: redirectTo("http://169.254.169.254/latest/meta-data/")}
		c := newTestWebhookClient(t, newFakeResolver(t, answers), d)
		_, err := c.Get("http://hooks.example.com/hook")
		requirePrivateAddressErr(t, err)
		if got, want := d.seen(), []string{publicV4 + ":80"}; !slices.Equal(got, want) {
			t.Fatalf("dialed %v, want only %v", got, want)
		}
	})

	t.Run("to name resolving private", func(t *testing.T) {
		d := &fakeDialer{t: t, handler: redirectTo("http://internal.example.com/admin")}
		c := newTestWebhookClient(t, newFakeResolver(t, answers), d)
		_, err := c.Get("http://hooks.example.com/hook")
		requirePrivateAddressErr(t, err, "10.0.0.7")
		if got, want := d.seen(), []string{publicV4 + ":80"}; !slices.Equal(got, want) {
			t.Fatalf("dialed %v, want only %v", got, want)
		}
	})

	t.Run("to decimal loopback", func(t *testing.T) {
		d := &fakeDialer{t: t, handler: redirectTo("http://2130706433:8080/")}
		c := newTestWebhookClient(t, newFakeResolver(t, answers), d)
		_, err := c.Get("http://hooks.example.com/hook")
		requirePrivateAddressErr(t, err)
		if got, want := d.seen(), []string{publicV4 + ":80"}; !slices.Equal(got, want) {
			t.Fatalf("dialed %v, want only %v", got, want)
		}
	})

	for _, loc := range []string{"ftp://hooks.example.com/x", "file:///etc/passwd", "gopher://hooks.example.com/"} {
		t.Run("to scheme "+loc, func(t *testing.T) {
			d := &fakeDialer{t: t, handler: redirectTo(loc)}
			c := newTestWebhookClient(t, newFakeResolver(t, answers), d)
			_, err := c.Get("http://hooks.example.com/hook")
			var ue *url.Error
			if !errors.As(err, &ue) || ue.Err != ErrUnsupportedScheme {
				t.Fatalf("err = %v, want *url.Error wrapping ErrUnsupportedScheme", err)
			}
		})
	}

	t.Run("to public host is followed and checked", func(t *testing.T) {
		d := &fakeDialer{t: t, handler: redirectTo("http://other.example.com/final")}
		r := newFakeResolver(t, answers)
		c := newTestWebhookClient(t, r, d)
		resp, err := c.Get("http://hooks.example.com/hook")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "final" {
			t.Fatalf("body = %q, want final", body)
		}
		if got, want := d.seen(), []string{publicV4 + ":80", "203.0.114.7:80"}; !slices.Equal(got, want) {
			t.Fatalf("dialed %v, want %v", got, want)
		}
		if got, want := r.seen(), []string{"hooks.example.com", "other.example.com"}; !slices.Equal(got, want) {
			t.Fatalf("resolved %v, want %v", got, want)
		}
	})

	t.Run("hop limit", func(t *testing.T) {
		var requests atomic.Int32
		d := &fakeDialer{t: t, handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			http.Redirect(w, r, "/again", http.StatusFound)
		})}
		c := newTestWebhookClient(t, newFakeResolver(t, answers), d)
		_, err := c.Get("http://hooks.example.com/hook")
		if !errors.Is(err, ErrTooManyRedirects) {
			t.Fatalf("err = %v, want ErrTooManyRedirects", err)
		}
		if n := requests.Load(); n != maxWebhookRedirects+1 {
			t.Fatalf("server saw %d requests, want %d", n, maxWebhookRedirects+1)
		}
	})
}

func TestWebhookClientSchemes(t *testing.T) {
	for _, u := range []string{
		"ftp://hooks.example.com/",
		"file:///etc/passwd",
		"gopher://hooks.example.com:70/",
		"ws://hooks.example.com/",
		"unix:///var/run/docker.sock",
		"//hooks.example.com/",
	} {
		t.Run(u, func(t *testing.T) {
			d := &fakeDialer{t: t}
			c := newTestWebhookClient(t, newFakeResolver(t, nil), d)
			_, err := c.Get(u)
			var ue *url.Error
			if !errors.As(err, &ue) || ue.Err != ErrUnsupportedScheme {
				t.Fatalf("err = %v, want *url.Error wrapping ErrUnsupportedScheme", err)
			}
		})
	}
}

// TestWebhookClientIgnoresProxyEnv: with proxy variables pointing elsewhere,
// the request must still go straight to the checked address.
func TestWebhookClientIgnoresProxyEnv(t *testing.T) {
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"} {
		t.Setenv(k, "http://proxy.example.net:3128")
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")

	if NewWebhookClient(time.Second).Transport.(*webhookTransport).base.Proxy != nil {
		t.Fatal("NewWebhookClient transport has a Proxy func; want nil")
	}

	var requestURI string
	d := &fakeDialer{t: t, handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requestURI = r.RequestURI
		io.WriteString(w, "ok")
	})}
	r := newFakeResolver(t, map[string][]string{"hooks.example.com": {publicV4}})
	c := newTestWebhookClient(t, r, d)
	if transportOf(t, c).Proxy != nil {
		t.Fatal("webhook transport has a Proxy func; want nil")
	}
	resp, err := c.Get("http://hooks.example.com/hook")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	resp.Body.Close()
	if got, want := d.seen(), []string{publicV4 + ":80"}; !slices.Equal(got, want) {
		t.Fatalf("dialed %v, want %v (not the proxy)", got, want)
	}
	if requestURI != "/hook" {
		t.Fatalf("request URI = %q; an absolute URI means it was sent as a proxy request", requestURI)
	}
}

func TestWebhookClientResponseCap(t *testing.T) {
	tests := []struct {
		name       string
		size       int
		noLength   bool // close-delimited body without Content-Length
		wantTooBig bool
	}{
		{"small", 2, false, false},
		{"exactly the cap", MaxWebhookResponseBytes, false, false},
		{"exactly the cap, no length", MaxWebhookResponseBytes, true, false},
		{"one byte over", MaxWebhookResponseBytes + 1, false, true},
		{"one byte over, no length", MaxWebhookResponseBytes + 1, true, true},
		{"far over", 4 * MaxWebhookResponseBytes, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := bytes.Repeat([]byte("x"), tt.size)
			d := &fakeDialer{t: t, handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Write(payload)
				if tt.noLength {
					w.(http.Flusher).Flush()
				}
			})}
			r := newFakeResolver(t, map[string][]string{"hooks.example.com": {publicV4}})
			c := newTestWebhookClient(t, r, d)
			resp, err := c.Get("http://hooks.example.com/")
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			defer resp.Body.Close()
			if tt.noLength && resp.ContentLength != -1 {
				t.Fatalf("ContentLength = %d, want -1 for this case", resp.ContentLength)
			}
			got, err := io.ReadAll(resp.Body)
			if tt.wantTooBig {
				if !errors.Is(err, ErrResponseTooLarge) {
					t.Fatalf("ReadAll err = %v, want ErrResponseTooLarge", err)
				}
				if len(got) != MaxWebhookResponseBytes {
					t.Fatalf("read %d bytes before the error, want %d", len(got), MaxWebhookResponseBytes)
				}
				return
			}
			if err != nil || len(got) != tt.size {
				t.Fatalf("ReadAll = %d bytes, %v; want %d bytes", len(got), err, tt.size)
			}
		})
	}
}

func TestCappedBody(t *testing.T) {
	read := func(src string, limit int64) (string, error) {
		b := &cappedBody{rc: io.NopCloser(iotest.OneByteReader(strings.NewReader(src))), left: limit}
		got, err := io.ReadAll(b)
		return string(got), err
	}
	if got, err := read("abc", 3); got != "abc" || err != nil {
		t.Errorf("at cap: %q, %v; want \"abc\", nil", got, err)
	}
	if got, err := read("abcd", 3); got != "abc" || !errors.Is(err, ErrResponseTooLarge) {
		t.Errorf("over cap: %q, %v; want \"abc\", ErrResponseTooLarge", got, err)
	}
	if got, err := read("", 0); got != "" || err != nil {
		t.Errorf("empty with zero cap: %q, %v; want \"\", nil", got, err)
	}

	b := &cappedBody{rc: io.NopCloser(strings.NewReader("abcdef")), left: 2}
	buf := make([]byte, 10)
	if n, err := b.Read(buf); n != 2 || err != ErrResponseTooLarge {
		t.Errorf("Read = %d, %v; want 2, ErrResponseTooLarge", n, err)
	}
	if n, err := b.Read(buf); n != 0 || err != ErrResponseTooLarge {
		t.Errorf("second Read = %d, %v; want sticky 0, ErrResponseTooLarge", n, err)
	}
}

// TestWebhookClientErrorHidesResolverAddress: DNS errors must not reveal the
// address of our internal resolver.
func TestWebhookClientErrorHidesResolverAddress(t *testing.T) {
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		return nil, &net.DNSError{Err: "no such host", Name: host, Server: "10.0.0.2:53", IsNotFound: true}
	}
	c := newWebhookClient(testTimeout, guard{lookup: lookup, dial: (&fakeDialer{t: t}).dial})
	_, err := c.Get("http://nx.example.com/")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Fatalf("err = %v, want a not-found *net.DNSError", err)
	}
	if strings.Contains(err.Error(), "10.0.0.2") {
		t.Fatalf("error %q leaks the resolver address", err)
	}
}

// TestWebhookClientHTTPS checks that dialing the checked IP literal keeps
// certificate verification and SNI bound to the URL's host name, and that
// HTTP/2 over TLS 1.3 is negotiated. The "public" IP is mapped to a local
// httptest server by the fake dial function.
func TestWebhookClientHTTPS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.TLS.ServerName)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	var dialed []string
	g := guard{
		lookup: newFakeResolver(t, map[string][]string{"hooks.example.com": {publicV4}}).lookup,
		dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialed = append(dialed, addr)
			var d net.Dialer
			return d.DialContext(ctx, network, srv.Listener.Addr().String())
		},
	}
	c := newWebhookClient(testTimeout, g)
	defer c.CloseIdleConnections()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	transportOf(t, c).TLSClientConfig.RootCAs = pool

	resp, err := c.Get("https://hooks.example.com/")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hooks.example.com" {
		t.Errorf("server saw SNI %q, want hooks.example.com", body)
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("negotiated %s, want HTTP/2", resp.Proto)
	}
	if resp.TLS.Version != tls.VersionTLS13 {
		t.Errorf("TLS version %x, want TLS 1.3", resp.TLS.Version)
	}
	if want := []string{publicV4 + ":443"}; !slices.Equal(dialed, want) {
		t.Errorf("dialed %v, want %v", dialed, want)
	}
}

func TestWebhookClientSettings(t *testing.T) {
	g := guard{lookup: newFakeResolver(t, nil).lookup, dial: (&fakeDialer{t: t}).dial}
	for name, c := range map[string]*http.Client{
		"NewWebhookClient": NewWebhookClient(7 * time.Second),
		"newWebhookClient": newWebhookClient(7*time.Second, g),
	} {
		t.Run(name, func(t *testing.T) {
			if c.Timeout != 7*time.Second {
				t.Errorf("Timeout = %v, want 7s", c.Timeout)
			}
			if c.CheckRedirect == nil {
				t.Error("CheckRedirect is nil; redirects would not be limited")
			}
			if _, ok := c.Transport.(*webhookTransport); !ok {
				t.Fatalf("Transport = %T, want *webhookTransport (body cap)", c.Transport)
			}
			tr := transportOf(t, c)
			checkTransportSettings(t, tr)
			if tr.Proxy != nil {
				t.Error("Proxy is set; webhook client must ignore proxy env")
			}
		})
	}
}

func BenchmarkIsPrivateIP(b *testing.B) {
	addrs := []netip.Addr{
		netip.MustParseAddr(publicV4),
		netip.MustParseAddr("10.1.2.3"),
		netip.MustParseAddr("169.254.169.254"),
		netip.MustParseAddr(publicV6),
		netip.MustParseAddr("::ffff:127.0.0.1"),
		netip.MustParseAddr("2002:a9fe:a9fe::1"),
		netip.MustParseAddr("fd00::1"),
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		isPrivateIP(addrs[i%len(addrs)])
	}
}
