package admincli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/wisehosting/wisehosting/internal/adminrpc"

	"github.com/wisehosting/wisehosting/internal/prompt"
)

// saved is the session file: one session per internal API address.
type saved struct {
	Sessions map[string]savedSession `json:"sessions"`
}

type savedSession struct {
	Token     string    `json:"token"`
	Username  string    `json:"username"`
	Role      string    `json:"role"`
	ExpiresAt time.Time `json:"expires_at"`
}

// sessionPath is $WH_ADMIN_CONFIG, else <user config dir>/wisehosting-admin/session.json.
func (a *app) sessionPath() (string, error) {
	if p := a.Getenv("WH_ADMIN_CONFIG"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("session file: %w (set WH_ADMIN_CONFIG to a file path)", err)
	}
	return filepath.Join(dir, "wisehosting-admin", "session.json"), nil
}

func (a *app) loadSessions() (saved, string, error) {
	s := saved{Sessions: map[string]savedSession{}}
	path, err := a.sessionPath()
	if err != nil {
		return s, "", err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, path, nil
	}
	if err != nil {
		return s, path, fmt.Errorf("session file: %w", err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return saved{Sessions: map[string]savedSession{}}, path, fmt.Errorf("session file %s: %w (delete it and log in again)", path, err)
	}
	if s.Sessions == nil {
		s.Sessions = map[string]savedSession{}
	}
	return s, path, nil
}

// saveSessions writes the file readable by its owner only (0600 in a 0700
// folder), replacing it atomically.
func saveSessions(path string, s saved) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("session file: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".session-*.json")
	if err != nil {
		return fmt.Errorf("session file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("session file: %w", err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("session file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("session file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("session file: %w", err)
	}
	return nil
}

var errNotLoggedIn = errors.New("not logged in: run `wisehosting-admin login --username NAME`")

// client returns a client with the saved session (or WH_ADMIN_TOKEN).
func (a *app) client() (*adminrpc.Client, error) {
	if tok := a.Getenv("WH_ADMIN_TOKEN"); tok != "" {
		return adminrpc.NewClient(a.addr, tok), nil
	}
	s, _, err := a.loadSessions()
	if err != nil {
		return nil, err
	}
	sess, ok := s.Sessions[a.addr]
	if !ok || sess.Token == "" {
		return nil, errNotLoggedIn
	}
	return adminrpc.NewClient(a.addr, sess.Token), nil
}

// explain turns "log in again" answers into the command to run.
func explain(err error) error {
	if adminrpc.IsUnauthorized(err) {
		return fmt.Errorf("%w (run `wisehosting-admin login --username NAME`)", err)
	}
	return err
}

func (a *app) reader() *bufio.Reader {
	if a.in == nil {
		a.in = bufio.NewReader(a.Stdin)
	}
	return a.in
}

func (a *app) terminal() (int, bool) {
	f, ok := a.Stdin.(*os.File)
	if !ok {
		return 0, false
	}
	return int(f.Fd()), term.IsTerminal(int(f.Fd()))
}

// secret reads one line: without echo on a terminal (after label), else
// the next line of stdin.
func (a *app) secret(ctx context.Context, label, what string) (string, error) {
	if fd, ok := a.terminal(); ok {
		fmt.Fprint(a.Stderr, label)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(a.Stderr)
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", what, err)
		}
		return string(b), nil
	}
	return prompt.ReadLine(ctx, a.reader(), what)
}

func (a *app) login(ctx context.Context, args []string) error {
	fs := a.flags("login")
	username := fs.String("username", "", "the admin account")
	totp := fs.String("totp", "", "the one-time code, for an account with a second factor")
	if _, err := parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if strings.TrimSpace(*username) == "" {
		return usagef("login: --username is required")
	}
	pw, err := a.secret(ctx, "Password: ", "the password")
	if err != nil {
		return err
	}
	if pw == "" {
		return errors.New("login: the password is empty")
	}
	c := adminrpc.NewClient(a.addr, "")
	req := adminrpc.LoginRequest{Username: *username, Password: pw, TOTP: *totp}
	sess, err := c.Login(ctx, req)
	var ae *adminrpc.APIError
	if errors.As(err, &ae) && ae.Code == "totp_required" {
		if _, tty := a.terminal(); !tty {
			return errors.New("login: this account needs a one-time code: pass --totp CODE")
		}
		if req.TOTP, err = a.secret(ctx, "One-time code: ", "the one-time code"); err != nil {
			return err
		}
		sess, err = c.Login(ctx, req)
	}
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	s, path, lerr := a.loadSessions()
	if path == "" {
		return lerr
	}
	s.Sessions[a.addr] = savedSession{Token: sess.Token, Username: sess.Username, Role: sess.Role, ExpiresAt: sess.ExpiresAt}
	if err := saveSessions(path, s); err != nil {
		return err
	}
	if a.json {
		sess.Token = ""
		return printJSON(a.Stdout, sess)
	}
	fmt.Fprintf(a.Stdout, "Logged in to %s as %s (%s) until %s.\n", a.addr, sess.Username, sess.Role,
		sess.ExpiresAt.Local().Format("2006-01-02 15:04"))
	return nil
}

func (a *app) logout(ctx context.Context, args []string) error {
	if _, err := parse(a.flags("logout"), args, 0, 0, ""); err != nil {
		return err
	}
	s, path, err := a.loadSessions()
	if err != nil {
		return err
	}
	sess, ok := s.Sessions[a.addr]
	if !ok {
		fmt.Fprintln(a.Stdout, "Not logged in.")
		return nil
	}
	c := adminrpc.NewClient(a.addr, sess.Token)
	if err := c.Logout(ctx); err != nil && !adminrpc.IsUnauthorized(err) {
		fmt.Fprintf(a.Stderr, "wisehosting-admin: warning: the session could not be ended on the server (%v); forgetting it here anyway\n", err)
	}
	delete(s.Sessions, a.addr)
	if err := saveSessions(path, s); err != nil {
		return err
	}
	fmt.Fprintln(a.Stdout, "Logged out.")
	return nil
}

func (a *app) whoami(ctx context.Context, args []string) error {
	if _, err := parse(a.flags("whoami"), args, 0, 0, ""); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	var s adminrpc.Session
	if err := c.Get(ctx, "/internal/v1/me", &s); err != nil {
		return explain(err)
	}
	if a.json {
		return printJSON(a.Stdout, s)
	}
	fmt.Fprintf(a.Stdout, "%s (%s) on %s, session until %s\n", s.Username, s.Role, a.addr, s.ExpiresAt.Local().Format("2006-01-02 15:04"))
	return nil
}
