package httpx

import (
	"net/http/httptest"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted, err := ParsePrefixes("127.0.0.1, 10.0.0.0/8, ::1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"direct client", "203.0.113.9:5000", nil, "203.0.113.9"},
		{"untrusted peer's header ignored", "203.0.113.9:5000", []string{"127.0.0.1"}, "203.0.113.9"},
		{"trusted proxy", "127.0.0.1:5000", []string{"198.51.100.4"}, "198.51.100.4"},
		{"forged left entries ignored", "127.0.0.1:5000", []string{"127.0.0.1, 198.51.100.4"}, "198.51.100.4"},
		{"two trusted hops", "127.0.0.1:5000", []string{"198.51.100.4, 10.1.2.3"}, "198.51.100.4"},
		{"several header lines", "[::1]:5000", []string{"192.0.2.1", "198.51.100.4"}, "198.51.100.4"},
		{"trusted peer, no header", "127.0.0.1:5000", nil, "127.0.0.1"},
		{"garbage in the header", "127.0.0.1:5000", []string{"evil, not-an-ip"}, "127.0.0.1"},
		{"mapped v4 peer", "[::ffff:127.0.0.1]:5000", []string{"198.51.100.4"}, "198.51.100.4"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.peer
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := ClientIP(r, trusted).String(); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
		if got := ClientIP(r, nil).String(); got != parseAddr(tc.peer).String() {
			t.Errorf("%s without trusted proxies: %s, want the peer", tc.name, got)
		}
	}
	if _, err := ParsePrefixes("10.0.0.0/8, nonsense"); err == nil {
		t.Error("a bad prefix was accepted")
	}
}
