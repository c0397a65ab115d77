package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// MasterKeyFile is where the master key lives in the data dir when
// WH_SECRET_KEY is not set. It must be backed up with the database: without
// it, encrypted secrets cannot be read.
const MasterKeyFile = "secret.key"

// LoadOrCreateMasterKey returns the 32-byte master key: from envValue (hex or
// base64) if set, else from <dataDir>/secret.key, creating that file (0600)
// on first start. The key is kept outside the database on purpose: a leaked
// database dump alone reveals no secrets.
func LoadOrCreateMasterKey(dataDir, envValue string) ([]byte, error) {
	if envValue != "" {
		k, err := decodeKey(envValue)
		if err != nil {
			return nil, fmt.Errorf("auth: WH_SECRET_KEY: %w", err)
		}
		return k, nil
	}
	path := filepath.Join(dataDir, MasterKeyFile)
	data, err := os.ReadFile(path)
	if err == nil {
		k, err := decodeKey(string(data))
		if err != nil {
			return nil, fmt.Errorf("auth: %s: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("auth: read master key: %w", err)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("auth: generate master key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("auth: create master key: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(k) + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("auth: write master key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("auth: write master key: %w", err)
	}
	return k, nil
}

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if k, err := hex.DecodeString(s); err == nil && len(k) == 32 {
		return k, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == 32 {
			return k, nil
		}
	}
	return nil, errors.New("want 32 bytes as 64 hex digits or base64")
}

// DeriveKey derives a purpose-specific 32-byte key from the master key, so
// one master key serves every use without any two sharing a key.
func DeriveKey(master []byte, purpose string) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, master, nil, "wisehosting "+purpose, 32)
	if err != nil {
		return nil, fmt.Errorf("auth: derive %s key: %w", purpose, err)
	}
	return k, nil
}

// SecretBox encrypts secrets at rest (git tokens, env values, webhook
// secrets) with AES-256-GCM. Each ciphertext is bound to a context string
// (such as "app:<id>:env:NAME") used as additional data, so a ciphertext
// copied into another row does not decrypt there.
type SecretBox struct {
	aead cipher.AEAD
}

const boxVersion = 1

// NewSecretBox returns a box keyed with a 32-byte key.
func NewSecretBox(key []byte) (*SecretBox, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("auth: secret box: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("auth: secret box: %w", err)
	}
	return &SecretBox{aead: aead}, nil
}

// Seal encrypts plaintext for context: version byte, nonce, ciphertext.
func (b *SecretBox) Seal(plaintext []byte, context string) []byte {
	out := make([]byte, 1+b.aead.NonceSize(), 1+b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	out[0] = boxVersion
	if _, err := rand.Read(out[1:]); err != nil {
		panic("auth: crypto/rand failed: " + err.Error()) // unreachable since Go 1.24
	}
	return b.aead.Seal(out, out[1:1+b.aead.NonceSize()], plaintext, []byte(context))
}

// ErrDecrypt means a ciphertext was altered, belongs to another context, or
// was sealed with another key.
var ErrDecrypt = errors.New("auth: cannot decrypt secret (wrong key or context?)")

// Open decrypts what Seal produced for the same context.
func (b *SecretBox) Open(sealed []byte, context string) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < 1+n+b.aead.Overhead() || sealed[0] != boxVersion {
		return nil, ErrDecrypt
	}
	pt, err := b.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(context))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}
