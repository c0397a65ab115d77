// Package auth holds the control plane's credentials machinery: password
// hashing, random tokens and their hashes, worker JWTs, encryption of
// secrets at rest, and login throttling. It knows nothing of HTTP or the
// database.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes, 1
// lane). The parameters are stored in every hash, so raising them later
// only affects new hashes.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	argonSaltLen   = 16

	// MinPasswordLen and MaxPasswordLen bound what users may choose. The
	// upper bound stops a megabyte "password" from costing us a hash.
	MinPasswordLen = 8
	MaxPasswordLen = 256
)

var b64 = base64.RawStdEncoding

// ErrPasswordPolicy reports a password outside the length bounds.
var ErrPasswordPolicy = fmt.Errorf("password must be %d to %d characters", MinPasswordLen, MaxPasswordLen)

// CheckPasswordPolicy validates a new password.
func CheckPasswordPolicy(pw string) error {
	if n := len([]rune(pw)); n < MinPasswordLen || len(pw) > MaxPasswordLen {
		return ErrPasswordPolicy
	}
	return nil
}

// HashPassword returns an argon2id hash in the PHC string format:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func HashPassword(pw string) (string, error) {
	if len(pw) > MaxPasswordLen {
		return "", ErrPasswordPolicy
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemoryKiB, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("auth: malformed password hash")

// CheckPassword reports whether pw matches hash, in constant time with
// respect to the hash's contents.
func CheckPassword(hash, pw string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<22 || t > 64 {
		return false, errBadHash
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errBadHash
	}
	if len(pw) > MaxPasswordLen {
		return false, nil
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is checked against when a login names an unknown user, so the
// response takes as long as for a known one and does not reveal which
// emails have accounts.
var dummyHash = func() string {
	h, err := HashPassword("wisehosting-dummy-password")
	if err != nil {
		panic(err)
	}
	return h
}()

// BurnPasswordCheck spends the time of one password check.
func BurnPasswordCheck(pw string) { _, _ = CheckPassword(dummyHash, pw) }
