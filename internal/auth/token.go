package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
)

// Token prefixes say what a bearer credential is at a glance (and let
// secret scanners recognise ours).
const (
	PrefixSession  = "whs_"
	PrefixAPIToken = "whp_"
	PrefixWorker   = "whk_"
)

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewToken returns a random credential with 160 bits of entropy, and the
// hash the database keeps instead of it.
func NewToken(prefix string) (raw, hash string) {
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("auth: crypto/rand failed: " + err.Error()) // unreachable since Go 1.24
	}
	raw = prefix + lower(tokenEncoding.EncodeToString(b[:]))
	return raw, HashToken(raw)
}

// HashToken is the stored form of a credential: lowercase hex sha256. Tokens
// carry enough entropy that a fast hash is safe (no dictionary to attack).
func HashToken(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
