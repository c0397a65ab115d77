package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// TOTP (RFC 6238) as authenticator apps do it: HMAC-SHA1, 30-second steps,
// 6 digits. A code of the previous or next step is accepted too, for clock
// drift and slow typing.

const (
	totpStep   = 30 * time.Second
	totpDigits = 6
)

var totpEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newTOTPSecret returns 20 random bytes in base32, the form apps accept.
func newTOTPSecret() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return totpEncoding.EncodeToString(b)
}

// totpURL is what an authenticator app scans (otpauth:// key URI).
func totpURL(username, secret string) string {
	label := url.PathEscape("WiseHosting admin:" + username)
	return fmt.Sprintf("otpauth://totp/%s?secret=%s&issuer=%s", label, secret, url.QueryEscape("WiseHosting admin"))
}

// TOTPCode returns the code of the 30-second step that contains t, as an
// authenticator app shows it.
func TOTPCode(secret string, t time.Time) (string, error) {
	key, err := totpEncoding.DecodeString(strings.ToUpper(strings.TrimRight(secret, "=")))
	if err != nil {
		return "", fmt.Errorf("admin: bad TOTP secret: %w", err)
	}
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(t.Unix()/int64(totpStep/time.Second)))
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	n := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%0*d", totpDigits, n%1_000_000), nil
}

// checkTOTP reports whether code is valid at now (±1 step).
func checkTOTP(secret, code string, now time.Time) bool {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != totpDigits {
		return false
	}
	ok := 0
	for _, d := range []time.Duration{-totpStep, 0, totpStep} {
		want, err := TOTPCode(secret, now.Add(d))
		if err != nil {
			return false
		}
		ok |= subtle.ConstantTimeCompare([]byte(want), []byte(code))
	}
	return ok == 1
}
