package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrPrivateAddress is returned (unwrapped, as the Err of the *url.Error
// that http.Client produces) whenever a webhook URL would make us connect to
// a private, loopback, link-local or otherwise reserved address. The text is
// deliberately opaque and never names the offending IP, so that probing with
// crafted URLs reveals nothing about our internal network.
var ErrPrivateAddress = errors.New("webhook URL resolves to a private or reserved IP address")

// ErrUnsupportedScheme is returned for webhook URLs (including redirect
// targets) whose scheme is not http or https. It is kept separate from
// ErrPrivateAddress because a scheme leaks nothing about our network and a
// clear message helps users fix their configuration.
var ErrUnsupportedScheme = errors.New("webhook URL must use http or https")

// ErrTooManyRedirects is returned when a webhook endpoint redirects more than
// maxWebhookRedirects times.
var ErrTooManyRedirects = errors.New("webhook URL redirected too many times")

// ErrResponseTooLarge is returned by a webhook response body's Read once the
// body turns out to be longer than MaxWebhookResponseBytes. We fail loudly
// rather than truncate so that callers never act on partial data.
var ErrResponseTooLarge = errors.New("webhook response body exceeds size limit")

const (
	// MaxWebhookResponseBytes caps how much of a webhook response body the
	// client will read. Webhook replies are acknowledgements; anything
	// larger is a misbehaving or malicious endpoint trying to exhaust memory.
	MaxWebhookResponseBytes = 1 << 20

	// maxWebhookRedirects is the number of redirects a webhook request may
	// follow (so at most maxWebhookRedirects+1 requests are sent).
	maxWebhookRedirects = 5
)

// Address ranges refused by isPrivateIP. Parsed once; never modified.
var (
	// refusedV4 lists every IPv4 range a webhook must never reach: the
	// RFC 6890 / IANA special-purpose registry entries, plus RFC 1918 and
	// CGNAT space. IPv4 is fully allocated, so a deny-list is complete.
	refusedV4 = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),       // "this network"; 0.0.0.0 reaches the local host on Linux
		netip.MustParsePrefix("10.0.0.0/8"),      // RFC 1918
		netip.MustParsePrefix("100.64.0.0/10"),   // RFC 6598 shared address space (CGNAT)
		netip.MustParsePrefix("127.0.0.0/8"),     // loopback
		netip.MustParsePrefix("169.254.0.0/16"),  // link-local, incl. cloud metadata 169.254.169.254
		netip.MustParsePrefix("172.16.0.0/12"),   // RFC 1918
		netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
		netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1
		netip.MustParsePrefix("192.88.99.0/24"),  // deprecated 6to4 relay anycast (RFC 7526)
		netip.MustParsePrefix("192.168.0.0/16"),  // RFC 1918
		netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
		netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2
		netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3
		netip.MustParsePrefix("224.0.0.0/4"),     // multicast
		netip.MustParsePrefix("240.0.0.0/4"),     // reserved, incl. broadcast 255.255.255.255
	}

	// IPv6 uses an allow-list instead: only global unicast (2000::/3) is
	// reachable. That single rule refuses ::/128, ::1, the IPv4-compatible
	// ::/96, 64:ff9b:1::/48, 100::/64, fc00::/7, fe80::/10, fec0::/10,
	// ff00::/8 and any range IANA might carve out of unallocated space in
	// the future (fail closed).
	globalUnicastV6 = netip.MustParsePrefix("2000::/3")

	// refusedV6 lists special-purpose ranges inside 2000::/3.
	refusedV6 = []netip.Prefix{
		netip.MustParsePrefix("2001::/23"),     // IETF protocol assignments: Teredo 2001::/32, benchmarking, ORCHID
		netip.MustParsePrefix("2001:db8::/32"), // documentation
		netip.MustParsePrefix("3fff::/20"),     // documentation (RFC 9637)
	}

	// Translation prefixes that embed an IPv4 address. A packet to them
	// ends up at the embedded IPv4 host, so that host is what we judge.
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052; IPv4 in the last 32 bits
	sixToFour      = netip.MustParsePrefix("2002::/16")    // RFC 3056; IPv4 in bits 16..47
)

// isPrivateIP reports whether addr must not be contacted by a webhook. It
// takes a netip.Addr (comparable, allocation-free, zone-aware) rather than a
// net.IP.
//
// IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16)
// addresses are judged by the IPv4 address they carry: they are refused if
// that address is refused and allowed if it is public. The invalid (zero)
// Addr and any address with an IPv6 zone are refused: zones only make sense
// for scoped, non-global addresses, and netip.Prefix.Contains never matches
// a zoned address, so a pure deny-list would let "fe80::1%eth0" through.
// (The IPv6 allow-list below would also catch it; the explicit check keeps
// that from depending on the order of the rules.)
func isPrivateIP(addr netip.Addr) bool {
	if !addr.IsValid() || addr.Zone() != "" {
		return true
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return containsAny(refusedV4, addr)
	}
	switch {
	case nat64WellKnown.Contains(addr):
		return isPrivateIP(embeddedV4(addr, 12))
	case sixToFour.Contains(addr):
		return isPrivateIP(embeddedV4(addr, 2))
	case !globalUnicastV6.Contains(addr):
		return true
	}
	return containsAny(refusedV6, addr)
}

func containsAny(prefixes []netip.Prefix, addr netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// embeddedV4 returns the IPv4 address stored at byte offset off of addr.
func embeddedV4(addr netip.Addr, off int) netip.Addr {
	b := addr.As16()
	return netip.AddrFrom4([4]byte(b[off : off+4]))
}

// NewWebhookClient returns an HTTP client for delivering webhooks to
// user-supplied URLs. It behaves like NewSecureClient, plus:
//
//   - Only http and https URLs are accepted (ErrUnsupportedScheme).
//   - Each connection resolves the host exactly once, refuses with
//     ErrPrivateAddress if ANY resolved address is private or reserved (see
//     isPrivateIP), and then dials the checked IP literal, so a DNS
//     rebinding between check and dial cannot redirect it. As defence in
//     depth the socket's peer address is checked again, just before
//     connect(2), by a net.Dialer Control hook.
//   - Redirects are followed at most maxWebhookRedirects times, only to
//     http(s) URLs, and every hop goes through the same guarded dialer.
//   - Proxy environment variables are ignored: going through a proxy would
//     make the proxy, not us, resolve and connect to the target.
//   - Response bodies error with ErrResponseTooLarge past
//     MaxWebhookResponseBytes.
//
// Errors from the guard reach callers as the exact sentinel: for a refused
// address, err.(*url.Error).Err == ErrPrivateAddress.
func NewWebhookClient(timeout time.Duration) *http.Client {
	return newWebhookClient(timeout, newSystemGuard())
}

// newSystemGuard returns the production guard: the system resolver, and a
// real dialer whose Control hook re-checks every socket address.
func newSystemGuard() guard {
	return guard{
		lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		},
		dial: newDialer(controlGuard).DialContext,
	}
}

// newWebhookClient builds the webhook client around g, letting tests inject
// a fake resolver and dialer.
func newWebhookClient(timeout time.Duration, g guard) *http.Client {
	tr := newTransport(g.dialContext)
	tr.Proxy = nil // never consult HTTP(S)_PROXY / ALL_PROXY; see NewWebhookClient
	return &http.Client{
		Timeout:       timeout,
		Transport:     &webhookTransport{base: tr},
		CheckRedirect: checkWebhookRedirect,
	}
}

// guard is the SSRF-checking dial path. lookup resolves a host name; dial
// connects to an "ip:port" literal and is never given a host name.
type guard struct {
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
}

// dialContext is the Transport's DialContext. addr is "host:port" taken
// from the request URL (after IDNA conversion by net/http).
func (g guard) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("httpx: webhook dial address: %w", err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("httpx: webhook port %q: %w", portStr, err)
	}
	addrs, err := g.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	// Refuse if ANY answer is private rather than dialing only the public
	// ones: a host that mixes internal and external answers is either
	// misconfigured or an attack, and the all-or-nothing rule leaves no
	// room for ordering or fallback tricks.
	for _, a := range addrs {
		if isPrivateIP(a) {
			return nil, ErrPrivateAddress
		}
	}
	var lastErr error
	for _, a := range addrs {
		// Dial the literal we just checked; the name is never resolved again.
		conn, err := g.dial(ctx, network, netip.AddrPortFrom(a.Unmap(), uint16(port)).String())
		if err == nil {
			return conn, nil
		}
		if errors.Is(err, ErrPrivateAddress) {
			// The Control hook fired. Drop the *net.OpError around it,
			// which would name the IP.
			return nil, ErrPrivateAddress
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// resolve turns host into the addresses a connection would go to. IP
// literals are used as-is. Hosts whose last label is numeric are parsed the
// way inet_aton(3) and browsers do ("2130706433", "0x7f.1", "0177.0.0.1",
// "127.1"), so we judge the same address any other component would see; if
// such a host is not a valid IPv4 address in any notation it is refused
// outright, since no real DNS name ends in a numeric label. Everything else
// goes to the resolver.
func (g guard) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	if endsInNumber(host) {
		a, ok := parseLegacyIPv4(host)
		if !ok {
			return nil, ErrPrivateAddress
		}
		return []netip.Addr{a}, nil
	}
	addrs, err := g.lookup(ctx, host)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.Server != "" {
			// The resolver's address is internal topology; keep
			// everything else (including what Unwrap returns).
			scrubbed := *dnsErr
			scrubbed.Server = ""
			err = &scrubbed
		}
		return nil, fmt.Errorf("httpx: resolve webhook host: %w", err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("httpx: resolve webhook host %q: no addresses", host)
	}
	return addrs, nil
}

// controlGuard is the net.Dialer Control hook: it re-checks the address the
// socket is about to connect to, whatever path produced it.
func controlGuard(_ context.Context, _, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || isPrivateIP(ap.Addr()) {
		return ErrPrivateAddress
	}
	return nil
}

// endsInNumber reports whether host's last label (ignoring one trailing
// dot) is a decimal or 0x-hex number, per the WHATWG URL standard. Such a
// host is an IPv4 address to browsers and C resolvers, never a DNS name.
func endsInNumber(host string) bool {
	host = strings.TrimSuffix(host, ".")
	last := host[strings.LastIndexByte(host, '.')+1:]
	if rest, ok := cutHexPrefix(last); ok {
		return strings.Trim(rest, "0123456789abcdefABCDEF") == ""
	}
	return last != "" && strings.Trim(last, "0123456789") == ""
}

// parseLegacyIPv4 parses host with inet_aton(3) semantics: one to four
// dot-separated parts, each decimal, 0x-hex or 0-prefixed octal, with the
// last part filling all remaining bytes ("127.1" is 127.0.0.1,
// "2130706433" is 127.0.0.1). One trailing dot is allowed, as in browsers.
func parseLegacyIPv4(host string) (netip.Addr, bool) {
	parts := strings.Split(strings.TrimSuffix(host, "."), ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var v uint32
	for i, p := range parts {
		n, ok := parseLegacyIPv4Part(p)
		if !ok {
			return netip.Addr{}, false
		}
		if i < len(parts)-1 {
			if n > 0xff {
				return netip.Addr{}, false
			}
			v |= uint32(n) << (24 - 8*i)
			continue
		}
		// The last part covers the remaining 5-len(parts) bytes.
		if bits := 8 * (5 - len(parts)); n >= 1<<bits {
			return netip.Addr{}, false
		}
		v |= uint32(n)
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

func parseLegacyIPv4Part(s string) (uint64, bool) {
	base := 10
	if rest, ok := cutHexPrefix(s); ok {
		if rest == "" {
			return 0, true // inet_aton and WHATWG both read a bare "0x" as 0
		}
		s, base = rest, 16
	} else if len(s) > 1 && s[0] == '0' {
		s, base = s[1:], 8
	}
	n, err := strconv.ParseUint(s, base, 32) // rejects "", signs and underscores
	return n, err == nil
}

func cutHexPrefix(s string) (string, bool) {
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		return s[2:], true
	}
	return s, false
}

// checkWebhookRedirect is the webhook client's CheckRedirect. The target
// host needs no check here: following the redirect dials through the guard.
func checkWebhookRedirect(req *http.Request, via []*http.Request) error {
	if !isHTTPScheme(req.URL.Scheme) {
		return ErrUnsupportedScheme
	}
	if len(via) > maxWebhookRedirects {
		return ErrTooManyRedirects
	}
	return nil
}

func isHTTPScheme(s string) bool { return s == "http" || s == "https" }

// webhookTransport enforces the scheme rule and caps every response body.
// It wraps the RoundTripper rather than relying on callers so that no code
// path, including redirects followed by http.Client, gets an uncapped body.
type webhookTransport struct {
	base *http.Transport
}

func (t *webhookTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !isHTTPScheme(req.URL.Scheme) {
		if req.Body != nil {
			req.Body.Close() // RoundTrippers must close the body, even on error
		}
		return nil, ErrUnsupportedScheme
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.Body != nil && resp.Body != http.NoBody {
		resp.Body = &cappedBody{rc: resp.Body, left: MaxWebhookResponseBytes}
	}
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// underlying transport through the wrapper.
func (t *webhookTransport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// cappedBody returns ErrResponseTooLarge once more than left bytes would be
// read, after handing out exactly the bytes within the cap.
type cappedBody struct {
	rc   io.ReadCloser
	left int64
	err  error // sticky ErrResponseTooLarge
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	// Read one byte past the cap so that a body of exactly the cap ends
	// with io.EOF while a longer one is detected.
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) <= b.left {
		b.left -= int64(n)
		return n, err
	}
	n = int(b.left)
	b.left = 0
	b.err = ErrResponseTooLarge
	return n, b.err
}

func (b *cappedBody) Close() error { return b.rc.Close() }
