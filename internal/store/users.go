package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Team roles.
const (
	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleMember = "member"
	RoleViewer = "viewer"
)

// Instance roles (User.InstanceRole); "" is an ordinary user. The first
// user to sign up becomes InstanceOwner.
const (
	InstanceOwner = "owner"
	InstanceAdmin = "admin"
)

// User is an account. Email is always lowercase.
type User struct {
	ID           string
	Email        string
	Name         string
	PasswordHash string
	InstanceRole string // InstanceOwner, InstanceAdmin or ""
	Suspended    bool
	CreatedAt    time.Time
	LastLoginAt  time.Time
}

const userCols = `id, email, name, password_hash, instance_role, suspended, created_at, last_login_at`

func scanUser(sc scanner) (*User, error) {
	var u User
	err := sc.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.InstanceRole, &u.Suspended,
		msTime{&u.CreatedAt}, msTime{&u.LastLoginAt})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

func validInstanceRole(r string) bool { return r == "" || r == InstanceOwner || r == InstanceAdmin }

// prepareUser fills the generated fields and normalises the email.
func prepareUser(u *User) error {
	if !validInstanceRole(u.InstanceRole) {
		return fmt.Errorf("invalid instance role %q", u.InstanceRole)
	}
	if u.ID == "" {
		u.ID = newID(prefixUser)
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now()
	}
	u.Email = strings.ToLower(u.Email)
	return nil
}

func insertUser(ctx context.Context, s *Store, e execer, u *User) error {
	_, err := e.ExecContext(ctx, s.q(`INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		u.ID, u.Email, u.Name, u.PasswordHash, u.InstanceRole, u.Suspended, ms(u.CreatedAt), ms(u.LastLoginAt))
	return err
}

// CreateUser inserts u, filling ID and CreatedAt when empty and lowercasing
// Email. ErrConflict if the email is taken. It does not apply the
// first-user-owns-the-instance rule; CreateUserWithTeam does.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	if err := prepareUser(u); err != nil {
		return fmt.Errorf("store: create user: %w", err)
	}
	if err := insertUser(ctx, s, s.w, u); err != nil {
		return wrapErr(err, "create user %s", u.Email)
	}
	return nil
}

// CreateUserWithTeam signs a user up in one transaction: the user, their
// personal team (t.Personal is forced true; the caller picks Name and Slug)
// and their owner membership. If there are no users yet the new user's
// InstanceRole becomes InstanceOwner; the check runs inside the transaction
// under a lock, so two simultaneous first sign-ups yield exactly one owner.
// ErrConflict if the email or the team slug is taken.
func (s *Store) CreateUserWithTeam(ctx context.Context, u *User, t *Team) error {
	nu, nt := *u, *t
	if err := prepareUser(&nu); err != nil {
		return fmt.Errorf("store: create user: %w", err)
	}
	prepareTeam(&nt, nu.CreatedAt)
	nt.Personal = true
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockTable(ctx, tx, "users"); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			nu.InstanceRole = InstanceOwner
		}
		if err := insertUser(ctx, s, tx, &nu); err != nil {
			return err
		}
		if err := insertTeam(ctx, s, tx, &nt); err != nil {
			return err
		}
		return insertMember(ctx, s, tx, nt.ID, nu.ID, RoleOwner, nu.CreatedAt)
	})
	if err != nil {
		return wrapErr(err, "create user %s", nu.Email)
	}
	*u, *t = nu, nt
	return nil
}

// GetUserByID returns the user or ErrNotFound.
func (s *Store) GetUserByID(ctx context.Context, id string) (*User, error) {
	u, err := scanUser(s.queryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
	if err != nil {
		return nil, wrapErr(err, "get user %s", id)
	}
	return u, nil
}

// GetUserByEmail looks the email up case-insensitively; ErrNotFound if absent.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (*User, error) {
	email = strings.ToLower(email)
	u, err := scanUser(s.queryRow(ctx, `SELECT `+userCols+` FROM users WHERE email = ?`, email))
	if err != nil {
		return nil, wrapErr(err, "get user by email %s", email)
	}
	return u, nil
}

// CountUsers returns the number of users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, wrapErr(err, "count users")
	}
	return n, nil
}

// ListUsers returns users oldest first.
func (s *Store) ListUsers(ctx context.Context, limit, offset int) ([]User, error) {
	rows, err := s.query(ctx, `SELECT `+userCols+` FROM users ORDER BY created_at, id LIMIT ? OFFSET ?`,
		limitOr(limit), max(offset, 0))
	us, err := collect(rows, err, deref(scanUser))
	if err != nil {
		return nil, wrapErr(err, "list users")
	}
	return us, nil
}

// TouchLogin records a successful login.
func (s *Store) TouchLogin(ctx context.Context, userID string, at time.Time) error {
	if err := s.execOne(ctx, `UPDATE users SET last_login_at = ? WHERE id = ?`, ms(at), userID); err != nil {
		return wrapErr(err, "touch login %s", userID)
	}
	return nil
}

// SetUserSuspended suspends or reinstates a user. It does not end their
// sessions; call DeleteUserSessions for that.
func (s *Store) SetUserSuspended(ctx context.Context, userID string, suspended bool) error {
	if err := s.execOne(ctx, `UPDATE users SET suspended = ? WHERE id = ?`, suspended, userID); err != nil {
		return wrapErr(err, "set user %s suspended", userID)
	}
	return nil
}

// SetInstanceRole sets a user's instance role: InstanceOwner, InstanceAdmin or "".
func (s *Store) SetInstanceRole(ctx context.Context, userID, role string) error {
	if !validInstanceRole(role) {
		return fmt.Errorf("store: set instance role %s: invalid role %q", userID, role)
	}
	if err := s.execOne(ctx, `UPDATE users SET instance_role = ? WHERE id = ?`, role, userID); err != nil {
		return wrapErr(err, "set instance role %s", userID)
	}
	return nil
}
