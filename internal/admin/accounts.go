package admin

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/wisehosting/wisehosting/internal/adminrpc"
	"github.com/wisehosting/wisehosting/internal/auth"
	"github.com/wisehosting/wisehosting/internal/store"
)

// MinPasswordLen is the shortest admin password: longer than a user's
// minimum, since an operator account acts on every tenant.
const MinPasswordLen = 12

var usernameRE = regexp.MustCompile(`^[a-z][a-z0-9._-]{1,31}$`)

// ValidateUsername checks an admin username (lowercased by the caller).
func ValidateUsername(u string) error {
	if !usernameRE.MatchString(u) {
		return fmt.Errorf("username %q: use 2 to 32 of a-z, 0-9, '.', '_' and '-', starting with a letter", u)
	}
	return nil
}

// ValidatePassword checks a new admin password.
func ValidatePassword(pw string) error {
	switch n := len([]rune(pw)); {
	case n == 0:
		return errors.New("the password is empty")
	case n < MinPasswordLen:
		return fmt.Errorf("the password is too short: admin passwords need at least %d characters", MinPasswordLen)
	case len(pw) > auth.MaxPasswordLen:
		return fmt.Errorf("the password is too long: at most %d bytes", auth.MaxPasswordLen)
	}
	return nil
}

// ErrUsernameTaken is returned by CreateAccount for a duplicate username.
var ErrUsernameTaken = errors.New("an admin account with that username already exists")

// NewAccount describes an account to create.
type NewAccount struct {
	Username string
	Password string
	Role     string
	// TOTP asks for a second factor: CreateAccount returns its secret.
	TOTP bool
}

// totpContext binds a sealed TOTP secret to its account's username, so a
// ciphertext copied to another row does not open there.
func totpContext(username string) string { return "admin:" + username + ":totp" }

// CreateAccount validates n and stores the account. box seals the TOTP
// secret and may be nil when n.TOTP is false. It returns the account and,
// with TOTP, the secret to give the operator (shown once).
func CreateAccount(ctx context.Context, st *store.Store, box *auth.SecretBox, n NewAccount) (*store.AdminAccount, string, error) {
	username := strings.ToLower(strings.TrimSpace(n.Username))
	var errs []error
	if err := ValidateUsername(username); err != nil {
		errs = append(errs, err)
	}
	if !adminrpc.ValidRole(n.Role) {
		errs = append(errs, fmt.Errorf("role %q: want %s, %s or %s", n.Role, adminrpc.RoleViewer, adminrpc.RoleOperator, adminrpc.RoleSuperadmin))
	}
	if err := ValidatePassword(n.Password); err != nil {
		errs = append(errs, err)
	}
	if n.TOTP && box == nil {
		errs = append(errs, errors.New("a TOTP secret needs the instance master key"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, "", err
	}
	hash, err := auth.HashPassword(n.Password)
	if err != nil {
		return nil, "", err
	}
	a := &store.AdminAccount{Username: username, PasswordHash: hash, Role: n.Role}
	var secret string
	if n.TOTP {
		secret = newTOTPSecret()
		a.TOTPSecretEnc = box.Seal([]byte(secret), totpContext(username))
	}
	if err := st.CreateAdminAccount(ctx, a); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, "", fmt.Errorf("%w: %s", ErrUsernameTaken, username)
		}
		return nil, "", err
	}
	return a, secret, nil
}
