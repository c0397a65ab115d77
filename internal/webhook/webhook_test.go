package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/wisehosting/wisehosting/internal/httpx"
	"github.com/wisehosting/wisehosting/internal/store"
)

func TestSignMatchesDocumentedScheme(t *testing.T) {
	secret := []byte("whsec_test")
	body := []byte(`{"id":"dlv_1","event":"violation","created_at":"2026-01-01T00:00:00Z","data":{}}`)
	ts := int64(1767225600)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("1767225600." + string(body)))
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	if got := Sign(secret, ts, body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	secret, body := []byte("s3cret-s3cret-s3cret"), []byte(`{"a":1}`)
	now := time.Unix(1767225600, 0)
	sig := Sign(secret, now.Unix(), body)
	ts := fmt.Sprint(now.Unix())
	if err := Verify(secret, body, ts, sig, 5*time.Minute, now.Add(time.Minute)); err != nil {
		t.Fatalf("valid signature refused: %v", err)
	}
	cases := []struct {
		name         string
		secret, body []byte
		ts, sig      string
		now          time.Time
		want         error
	}{
		{"other body", secret, []byte(`{"a":2}`), ts, sig, now, ErrBadSignature},
		{"other secret", []byte("other"), body, ts, sig, now, ErrBadSignature},
		{"other timestamp", secret, body, fmt.Sprint(now.Unix() + 1), sig, now, ErrBadSignature},
		{"no prefix", secret, body, ts, strings.TrimPrefix(sig, "sha256="), now, ErrBadSignature},
		{"not hex", secret, body, ts, "sha256=zz", now, ErrBadSignature},
		{"stale", secret, body, ts, sig, now.Add(6 * time.Minute), ErrBadTimestamp},
		{"future", secret, body, ts, sig, now.Add(-6 * time.Minute), ErrBadTimestamp},
		{"no timestamp", secret, body, "", sig, now, ErrBadTimestamp},
	}
	for _, c := range cases {
		if err := Verify(c.secret, c.body, c.ts, c.sig, 5*time.Minute, c.now); !errors.Is(err, c.want) {
			t.Errorf("%s: Verify = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestBodyIsStableAndShaped(t *testing.T) {
	dl := &store.Delivery{ID: "dlv_x", Event: "app.crashed", Payload: `{"app":"a","app_id":"app_1"}`,
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)}
	b1, err := Body(dl)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := Body(dl)
	if string(b1) != string(b2) {
		t.Fatalf("body changes between calls:\n%s\n%s", b1, b2)
	}
	want := `{"id":"dlv_x","event":"app.crashed","created_at":"2026-01-02T03:04:05.006Z","data":{"app":"a","app_id":"app_1"}}`
	if string(b1) != want {
		t.Fatalf("body = %s\nwant   %s", b1, want)
	}
	var v map[string]any
	if err := json.Unmarshal(b1, &v); err != nil {
		t.Fatal(err)
	}
	dl.Payload = ""
	if b, _ := Body(dl); !strings.HasSuffix(string(b), `"data":null}`) {
		t.Fatalf("empty payload: %s", b)
	}
}

func TestDescribeErrorIsOpaque(t *testing.T) {
	wrap := func(err error) error { return &url.Error{Op: "Post", URL: "http://10.1.2.3:8080/x", Err: err} }
	cases := []struct {
		err  error
		want string
	}{
		{wrap(httpx.ErrPrivateAddress), httpx.ErrPrivateAddress.Error()},
		{wrap(httpx.ErrUnsupportedScheme), httpx.ErrUnsupportedScheme.Error()},
		{wrap(&net.DNSError{Err: "no such host", Name: "x.invalid", Server: "10.0.0.53:53", IsNotFound: true}),
			"could not resolve the webhook host: no such host"},
		{wrap(&net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(93, 184, 216, 34), Port: 443},
			Err: &netSyscallErr{syscall.ECONNREFUSED}}), "connection refused"},
		{wrap(context.DeadlineExceeded), "no answer within 10s"},
		{wrap(errors.New("dial tcp 93.184.216.34:443: something odd")), "request failed"},
	}
	for _, c := range cases {
		got := describeError(c.err)
		if got != c.want {
			t.Errorf("describeError(%v) = %q, want %q", c.err, got, c.want)
		}
		if strings.ContainsAny(got, "0123456789") && !strings.Contains(got, "10s") {
			t.Errorf("describeError(%v) = %q names an address", c.err, got)
		}
	}
}

// netSyscallErr wraps an errno the way os.SyscallError does.
type netSyscallErr struct{ errno syscall.Errno }

func (e *netSyscallErr) Error() string { return "connect: " + e.errno.Error() }
func (e *netSyscallErr) Unwrap() error { return e.errno }

func TestReadSnippet(t *testing.T) {
	in := "line one\r\n\tline\x00two " + strings.Repeat("é", 200)
	got := readSnippet(strings.NewReader(in))
	if len(got) > maxErrorBody {
		t.Fatalf("snippet is %d bytes", len(got))
	}
	if !strings.HasPrefix(got, "line one line two é") {
		t.Fatalf("snippet = %q", got)
	}
	if strings.ContainsFunc(got, func(r rune) bool { return r < 0x20 || r == 0xfffd }) {
		t.Fatalf("snippet keeps control or broken characters: %q", got)
	}
}

func TestValidEvent(t *testing.T) {
	for _, e := range Events {
		if !ValidEvent(e) {
			t.Errorf("%s not valid", e)
		}
	}
	if ValidEvent("*") || ValidEvent("deployment") {
		t.Error("unexpected valid event")
	}
	if id := NewID(); !strings.HasPrefix(id, "hook_") || len(id) != len("hook_")+26 {
		t.Errorf("NewID = %q", id)
	}
}
