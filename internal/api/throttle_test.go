package api_test

import (
	"bytes"
	"net"
	"net/http"
	"testing"

	"github.com/wisehosting/wisehosting/internal/servertest"
)

// TestLoginLockoutIsPerAddress: five wrong passwords from one address
// lock that address out of the account, not the account's owner signing
// in from elsewhere.
func TestLoginLockoutIsPerAddress(t *testing.T) {
	s := servertest.New(t, servertest.DBs(t)[0])
	signup(t, s, "target@example.com")
	from := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	}
	login := func(c *http.Client, pw string) int {
		t.Helper()
		body := []byte(`{"email":"target@example.com","password":"` + pw + `"}`)
		resp, err := c.Post(s.URL+"/v1/auth/login", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	attacker, owner := from("127.0.0.7"), from("127.0.0.8")
	for range 5 {
		if code := login(attacker, "wrong-password"); code != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", code)
		}
	}
	if code := login(attacker, "password-123"); code != http.StatusTooManyRequests {
		t.Fatalf("the guessing address after 5 failures: %d, want 429", code)
	}
	if code := login(owner, "password-123"); code != http.StatusOK {
		t.Fatalf("the owner from another address: %d, want 200", code)
	}
}
