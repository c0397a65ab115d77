package auth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestPassword(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash format: %s", h)
	}
	h2, _ := HashPassword("correct horse battery")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt missing")
	}
	cases := []struct {
		name, hash, pw string
		ok             bool
		err            bool
	}{
		{"right", h, "correct horse battery", true, false},
		{"wrong", h, "correct horse battery!", false, false},
		{"empty", h, "", false, false},
		{"too long", h, strings.Repeat("x", MaxPasswordLen+1), false, false},
		{"garbage hash", "nope", "x", false, true},
		{"bcrypt hash", "$2a$10$abcdefghijklmnopqrstuu", "x", false, true},
		{"absurd memory", "$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$aGFzaA", "x", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := CheckPassword(tc.hash, tc.pw)
			if ok != tc.ok || (err != nil) != tc.err {
				t.Fatalf("CheckPassword = %v, %v; want %v, err %v", ok, err, tc.ok, tc.err)
			}
		})
	}
	for pw, ok := range map[string]bool{"short": false, "12345678": true, "ünïcødé!": true, strings.Repeat("x", 257): false} {
		if (CheckPasswordPolicy(pw) == nil) != ok {
			t.Errorf("policy(%q) ok=%v", pw, !ok)
		}
	}
}

func TestToken(t *testing.T) {
	raw, hash := NewToken(PrefixAPIToken)
	if !strings.HasPrefix(raw, "whp_") || len(raw) != 4+32 {
		t.Fatalf("token %q", raw)
	}
	if HashToken(raw) != hash || len(hash) != 64 {
		t.Fatal("hash mismatch")
	}
	raw2, _ := NewToken(PrefixAPIToken)
	if raw == raw2 {
		t.Fatal("tokens repeat")
	}
	// The worker-key vector of protocol.md: stored hash = hex sha256(raw).
	if got := HashToken("whk_test_0123456789abcdef"); got != "197980094a81a7ea350f8ccf56f7f65bcc4e5f5f7f2f9407114143cb5c9d5a61" {
		t.Fatalf("HashToken = %s", got)
	}
}

func TestWorkerTokens(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	now := time.Unix(1764230400, 0)
	w, err := NewWorkerTokens(key)
	if err != nil {
		t.Fatal(err)
	}
	w.now = func() time.Time { return now }
	good, exp, err := w.Issue(42)
	if err != nil {
		t.Fatal(err)
	}
	if exp.Sub(now) != WorkerTokenTTL {
		t.Fatalf("ttl %v", exp.Sub(now))
	}
	if id, err := w.Verify(good); err != nil || id != 42 {
		t.Fatalf("Verify(good) = %d, %v", id, err)
	}

	sign := func(method jwt.SigningMethod, k any, c jwt.Claims) string {
		s, err := jwt.NewWithClaims(method, c).SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	claims := func(mut func(*workerClaims)) *workerClaims {
		c := &workerClaims{WorkerID: 42, RegisteredClaims: jwt.RegisteredClaims{
			Issuer: jwtIssuer, Subject: "42", Audience: jwt.ClaimStrings{jwtAudience},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
		}}
		if mut != nil {
			mut(c)
		}
		return c
	}
	b64 := base64.RawURLEncoding.EncodeToString
	parts := strings.Split(good, ".")
	cases := map[string]string{
		"alg none":            b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".",
		"alg none unsigned":   sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil)),
		"HS512 same key":      sign(jwt.SigningMethodHS512, key, claims(nil)),
		"HS384 same key":      sign(jwt.SigningMethodHS384, key, claims(nil)),
		"re-signed other key": sign(jwt.SigningMethodHS256, bytes.Repeat([]byte{8}, 32), claims(nil)),
		"expired":             sign(jwt.SigningMethodHS256, key, claims(func(c *workerClaims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute)) })),
		"no expiry":           sign(jwt.SigningMethodHS256, key, claims(func(c *workerClaims) { c.ExpiresAt = nil })),
		"wrong issuer":        sign(jwt.SigningMethodHS256, key, claims(func(c *workerClaims) { c.Issuer = "evil" })),
		"wrong audience":      sign(jwt.SigningMethodHS256, key, claims(func(c *workerClaims) { c.Audience = jwt.ClaimStrings{"wisehosting-user"} })),
		"issued in future":    sign(jwt.SigningMethodHS256, key, claims(func(c *workerClaims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Hour)) })),
		"subject mismatch":    sign(jwt.SigningMethodHS256, key, claims(func(c *workerClaims) { c.Subject = "43" })),
		"no worker id":        sign(jwt.SigningMethodHS256, key, claims(func(c *workerClaims) { c.WorkerID = 0; c.Subject = "0" })),
		"payload swapped":     parts[0] + "." + b64([]byte(`{"wid":1,"sub":"1","iss":"wisehosting","aud":["wisehosting-worker"],"exp":9999999999}`)) + "." + parts[2],
		"garbage":             "not.a.jwt",
		"empty":               "",
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			if id, err := w.Verify(tok); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify = %d, %v; want ErrInvalidToken", id, err)
			}
		})
	}
	// The token expires for real: 15 minutes later it is refused.
	w.now = func() time.Time { return now.Add(WorkerTokenTTL + 10*time.Second) }
	if _, err := w.Verify(good); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("expired token accepted: %v", err)
	}
	if _, err := NewWorkerTokens([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestSecretBox(t *testing.T) {
	master := bytes.Repeat([]byte{1}, 32)
	k1, _ := DeriveKey(master, "secrets v1")
	k2, _ := DeriveKey(master, "worker jwt v1")
	if bytes.Equal(k1, k2) {
		t.Fatal("derived keys for two purposes are equal")
	}
	box, err := NewSecretBox(k1)
	if err != nil {
		t.Fatal(err)
	}
	sealed := box.Seal([]byte("ghp_secret"), "app:1:git_token")
	if bytes.Contains(sealed, []byte("ghp_secret")) {
		t.Fatal("plaintext visible in ciphertext")
	}
	if pt, err := box.Open(sealed, "app:1:git_token"); err != nil || string(pt) != "ghp_secret" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	other, _ := NewSecretBox(k2)
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for name, f := range map[string]func() ([]byte, error){
		"other context": func() ([]byte, error) { return box.Open(sealed, "app:2:git_token") },
		"other key":     func() ([]byte, error) { return other.Open(sealed, "app:1:git_token") },
		"tampered":      func() ([]byte, error) { return box.Open(tampered, "app:1:git_token") },
		"truncated":     func() ([]byte, error) { return box.Open(sealed[:10], "app:1:git_token") },
		"empty":         func() ([]byte, error) { return box.Open(nil, "app:1:git_token") },
	} {
		if _, err := f(); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: %v, want ErrDecrypt", name, err)
		}
	}
}

func TestMasterKey(t *testing.T) {
	dir := t.TempDir()
	k, err := LoadOrCreateMasterKey(dir, "")
	if err != nil || len(k) != 32 {
		t.Fatalf("create: %v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, MasterKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", fi.Mode(), err)
	}
	again, err := LoadOrCreateMasterKey(dir, "")
	if err != nil || !bytes.Equal(k, again) {
		t.Fatal("key changed between starts")
	}
	env := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	if fromEnv, err := LoadOrCreateMasterKey(dir, env); err != nil || fromEnv[0] != 9 {
		t.Fatalf("env key: %v", err)
	}
	if _, err := LoadOrCreateMasterKey(dir, "too-short"); err == nil {
		t.Fatal("bad env key accepted")
	}
}

func TestThrottle(t *testing.T) {
	now := time.Unix(0, 0)
	th := NewThrottle(3, time.Minute)
	th.now = func() time.Time { return now }
	for range 3 {
		if ok, _ := th.Allowed("a@x"); !ok {
			t.Fatal("refused too early")
		}
		th.Fail("a@x")
		now = now.Add(time.Second)
	}
	ok, wait := th.Allowed("a@x")
	if ok || wait != 57*time.Second {
		t.Fatalf("after 3 failures: ok=%v wait=%v", ok, wait)
	}
	if ok, _ := th.Allowed("b@x"); !ok {
		t.Fatal("other key throttled")
	}
	now = now.Add(58 * time.Second)
	if ok, _ := th.Allowed("a@x"); !ok {
		t.Fatal("still refused after the window")
	}
	th.Fail("a@x")
	th.Reset("a@x")
	if ok, _ := th.Allowed("a@x"); !ok {
		t.Fatal("refused after Reset")
	}
}

func TestRoles(t *testing.T) {
	if !RoleAtLeast(RoleOwner, RoleAdmin) || RoleAtLeast(RoleViewer, RoleMember) || RoleAtLeast("", RoleViewer) || RoleAtLeast(RoleOwner, "bogus") {
		t.Fatal("role order wrong")
	}
}
