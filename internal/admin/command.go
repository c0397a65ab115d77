package admin

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/wisehosting/wisehosting/internal/adminrpc"
	"github.com/wisehosting/wisehosting/internal/auth"
	"github.com/wisehosting/wisehosting/internal/store"
)

// CommandUsage describes `wisehosting admin`.
const CommandUsage = `usage: wisehosting admin <command> [flags]

Manage the accounts of wisehosting-admin, the operators' tool. These commands
open the database directly, so they run on the server itself with access to
its data folder; no account can be created over the network.

commands:
  create-account  --username U --role viewer|operator|superadmin [--totp]
                  the password is the first line of standard input
  list-accounts
  disable-account --username U     (also ends its sessions)
  enable-account  --username U
  set-password    --username U     (password from standard input; ends its sessions)

flags of every command:
  --data-dir DIR       the server's data folder (env WH_DATA_DIR; default data)
  --database-url URL   the server's PostgreSQL URL, if it uses one (env WH_DATABASE_URL)
`

// Command is `wisehosting admin …`.
type Command struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// Run runs one admin subcommand.
func (c Command) Run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(c.Stdout, CommandUsage)
		if len(args) == 0 {
			return errors.New("admin: no command given")
		}
		return nil
	}
	name, args := args[0], args[1:]
	fs := flag.NewFlagSet("wisehosting admin "+name, flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	dataDir := fs.String("data-dir", envOr(c.Getenv, "WH_DATA_DIR", "data"), "the server's data folder")
	dbURL := fs.String("database-url", "", "the server's PostgreSQL URL (env WH_DATABASE_URL)")
	var username, role *string
	var totp *bool
	switch name {
	case "create-account":
		username = fs.String("username", "", "the account's name (2-32 of a-z 0-9 . _ -)")
		role = fs.String("role", "", "viewer, operator or superadmin")
		totp = fs.Bool("totp", false, "require a one-time code from an authenticator app at login")
	case "disable-account", "enable-account", "set-password":
		username = fs.String("username", "", "the account's name")
	case "list-accounts":
	default:
		fmt.Fprint(c.Stderr, CommandUsage)
		return fmt.Errorf("admin: unknown command %q", name)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("admin %s: unexpected arguments: %s", name, strings.Join(fs.Args(), " "))
	}
	if username != nil && strings.TrimSpace(*username) == "" {
		return fmt.Errorf("admin %s: --username is required", name)
	}
	if *dbURL == "" {
		v, err := envSecret(c.Getenv, "WH_DATABASE_URL")
		if err != nil {
			return err
		}
		*dbURL = v
	}
	// Check what can be checked before the store is opened (and migrated).
	if name == "create-account" {
		var errs []error
		if err := ValidateUsername(strings.ToLower(strings.TrimSpace(*username))); err != nil {
			errs = append(errs, err)
		}
		if *role == "" {
			errs = append(errs, errors.New("--role is required: viewer, operator or superadmin"))
		} else if !adminrpc.ValidRole(*role) {
			errs = append(errs, fmt.Errorf("role %q: want viewer, operator or superadmin", *role))
		}
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("admin create-account: %w", err)
		}
	}

	st, err := c.openStore(ctx, *dataDir, *dbURL)
	if err != nil {
		return err
	}
	defer st.Close()

	switch name {
	case "create-account":
		pw, err := c.readPassword(ctx, true)
		if err != nil {
			return fmt.Errorf("admin create-account: %w", err)
		}
		var box *auth.SecretBox
		if *totp {
			if box, err = c.secretBox(*dataDir); err != nil {
				return fmt.Errorf("admin create-account: %w", err)
			}
		}
		a, secret, err := CreateAccount(ctx, st, box, NewAccount{Username: *username, Password: pw, Role: *role, TOTP: *totp})
		if err != nil {
			return fmt.Errorf("admin create-account: %w", err)
		}
		fmt.Fprintf(c.Stdout, "created admin account %s (role %s)\n", a.Username, a.Role)
		if secret != "" {
			fmt.Fprintf(c.Stdout, "TOTP secret (shown once; add it to an authenticator app):\n  %s\n  %s\n",
				secret, totpURL(a.Username, secret))
		}
		return nil
	case "list-accounts":
		as, err := st.ListAdminAccounts(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(c.Stdout, 0, 4, 3, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tROLE\tTOTP\tDISABLED\tCREATED\tLAST LOGIN")
		for _, a := range as {
			last := "never"
			if !a.LastLoginAt.IsZero() {
				last = a.LastLoginAt.Format("2006-01-02 15:04")
			}
			fmt.Fprintf(tw, "%s\t%s\t%t\t%t\t%s\t%s\n", a.Username, a.Role, len(a.TOTPSecretEnc) > 0, a.Disabled,
				a.CreatedAt.Format("2006-01-02 15:04"), last)
		}
		return tw.Flush()
	}

	a, err := st.GetAdminAccountByUsername(ctx, *username)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("admin %s: no admin account named %q", name, *username)
	}
	if err != nil {
		return err
	}
	switch name {
	case "disable-account", "enable-account":
		disabled := name == "disable-account"
		if err := st.SetAdminAccountDisabled(ctx, a.ID, disabled); err != nil {
			return err
		}
		fmt.Fprintf(c.Stdout, "admin account %s %sd\n", a.Username, strings.TrimSuffix(name, "-account"))
	case "set-password":
		pw, err := c.readPassword(ctx, true)
		if err == nil {
			err = ValidatePassword(pw)
		}
		if err != nil {
			return fmt.Errorf("admin set-password: %w", err)
		}
		hash, err := auth.HashPassword(pw)
		if err != nil {
			return err
		}
		if err := st.SetAdminPassword(ctx, a.ID, hash); err != nil {
			return err
		}
		fmt.Fprintf(c.Stdout, "password of %s changed; its sessions ended\n", a.Username)
	}
	return nil
}

// openStore opens the server's database. For SQLite the data folder must
// exist already: a mistyped --data-dir must not quietly start a new,
// empty database that the server never reads.
func (c Command) openStore(ctx context.Context, dataDir, dbURL string) (*store.Store, error) {
	dsn := dbURL
	if dsn == "" {
		if fi, err := os.Stat(dataDir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("admin: data folder %q not found: pass the server's --data-dir (or --database-url for PostgreSQL)", dataDir)
		}
		dsn = filepath.Join(dataDir, "wisehosting.db")
	} else if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return nil, errors.New("admin: --database-url must start with postgres://")
	}
	st, err := store.Open(ctx, dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, fmt.Errorf("admin: open the database: %w", err)
	}
	return st, nil
}

// secretBox opens the instance's secret box with the existing master key;
// it never creates one (a new key would seal what the server cannot open).
func (c Command) secretBox(dataDir string) (*auth.SecretBox, error) {
	env, err := envSecret(c.Getenv, "WH_SECRET_KEY")
	if err != nil {
		return nil, err
	}
	if env == "" {
		if _, err := os.Stat(filepath.Join(dataDir, auth.MasterKeyFile)); err != nil {
			return nil, fmt.Errorf("no master key in %s (start the server once first, or set WH_SECRET_KEY as the server has it)", dataDir)
		}
	}
	master, err := auth.LoadOrCreateMasterKey(dataDir, env)
	if err != nil {
		return nil, err
	}
	key, err := auth.DeriveKey(master, "secrets v1")
	if err != nil {
		return nil, err
	}
	return auth.NewSecretBox(key)
}

// readPassword reads the first line of stdin, or asks twice without echo
// when stdin is a terminal.
func (c Command) readPassword(ctx context.Context, confirm bool) (string, error) {
	if f, ok := c.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(c.Stderr, "Password: ")
		pw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.Stderr)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		if confirm {
			fmt.Fprint(c.Stderr, "Again: ")
			again, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(c.Stderr)
			if err != nil {
				return "", fmt.Errorf("reading the password: %w", err)
			}
			if string(again) != string(pw) {
				return "", errors.New("the two passwords differ")
			}
		}
		return string(pw), nil
	}
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(io.LimitReader(c.Stdin, 4096)).ReadString('\n')
		ch <- result{line, err}
	}()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case r := <-ch:
		if r.err != nil && (!errors.Is(r.err, io.EOF) || r.line == "") {
			if errors.Is(r.err, io.EOF) {
				return "", errors.New("reading the password: standard input is empty (pipe the password in, e.g. `printf '%s\\n' \"$PW\" | …`)")
			}
			return "", fmt.Errorf("reading the password: %w", r.err)
		}
		return strings.TrimRight(r.line, "\r\n"), nil
	}
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// envSecret reads KEY, or the file named by KEY_FILE (as the server does).
func envSecret(getenv func(string) string, key string) (string, error) {
	if v := getenv(key); v != "" {
		return v, nil
	}
	path := getenv(key + "_FILE")
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", key, err)
	}
	return strings.TrimSpace(string(b)), nil
}
