package admin_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/admin"
	"github.com/wisehosting/wisehosting/internal/auth"
	"github.com/wisehosting/wisehosting/internal/servertest"
	"github.com/wisehosting/wisehosting/internal/store"
)

// runCommand runs `wisehosting admin args…` with stdin and no environment.
func runCommand(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := admin.Command{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}.
		Run(context.Background(), args)
	return out.String() + errOut.String(), err
}

func TestCreateAccountCommand(t *testing.T) {
	servertest.ForEachDB(t, func(t *testing.T, db servertest.DB) {
		dir := t.TempDir()
		common := []string{"--data-dir", dir}
		if u := servertest.DatabaseURL(t, db); u != "" {
			common = append(common, "--database-url", u)
		}
		create := func(stdin string, extra ...string) (string, error) {
			return runCommand(t, stdin, append(append([]string{"create-account"}, common...), extra...)...)
		}
		const pw = "correct horse battery\n"
		for _, tc := range []struct {
			name, stdin string
			args        []string
			wantErr     string
		}{
			{"no username", pw, []string{"--role", "operator"}, "--username is required"},
			{"bad username", pw, []string{"--username", "Al ice!", "--role", "operator"}, "use 2 to 32 of"},
			{"no role", pw, []string{"--username", "alice"}, "--role is required"},
			{"bad role", pw, []string{"--username", "alice", "--role", "root"}, `role "root": want viewer, operator or superadmin`},
			{"short password", "short\n", []string{"--username", "alice", "--role", "operator"}, "too short: admin passwords need at least 12"},
			{"empty stdin", "", []string{"--username", "alice", "--role", "operator"}, "standard input is empty"},
			{"stray argument", pw, []string{"--username", "alice", "--role", "operator", "extra"}, "unexpected arguments: extra"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				out, err := create(tc.stdin, tc.args...)
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v (output %q), want it to contain %q", err, out, tc.wantErr)
				}
			})
		}

		out, err := create(pw, "--username", "Alice", "--role", "operator")
		if err != nil || !strings.Contains(out, "created admin account alice (role operator)") {
			t.Fatalf("create: %v %q", err, out)
		}
		if _, err := create("another password here\n", "--username", "alice", "--role", "viewer"); err == nil ||
			!strings.Contains(err.Error(), "already exists: alice") {
			t.Fatalf("duplicate: %v", err)
		}

		out, err = runCommand(t, "", append([]string{"list-accounts"}, common...)...)
		if err != nil || !strings.Contains(out, "alice") || !strings.Contains(out, "operator") {
			t.Fatalf("list-accounts: %v %q", err, out)
		}
		if out, err := runCommand(t, "", append([]string{"disable-account", "--username", "alice"}, common...)...); err != nil || !strings.Contains(out, "disabled") {
			t.Fatalf("disable: %v %q", err, out)
		}
		if _, err := runCommand(t, "", append([]string{"enable-account", "--username", "nobody"}, common...)...); err == nil ||
			!strings.Contains(err.Error(), `no admin account named "nobody"`) {
			t.Fatalf("enable unknown: %v", err)
		}
		if _, err := runCommand(t, "new password long enough\n", append([]string{"set-password", "--username", "alice"}, common...)...); err != nil {
			t.Fatalf("set-password: %v", err)
		}

		// The account is in the database the server reads, with a real hash.
		dsn := filepath.Join(dir, "wisehosting.db")
		if db.URL != "" {
			dsn = common[len(common)-1]
		}
		st, err := store.Open(context.Background(), dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		a, err := st.GetAdminAccountByUsername(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := auth.CheckPassword(a.PasswordHash, "new password long enough"); !ok || !a.Disabled || a.Role != "operator" {
			t.Fatalf("stored account %+v: password ok %v", a, ok)
		}
	})
}

func TestCreateAccountCommandPaths(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	if _, err := runCommand(t, "correct horse battery\n", "create-account", "--data-dir", missing, "--username", "bob", "--role", "viewer"); err == nil ||
		!strings.Contains(err.Error(), "not found: pass the server's --data-dir") {
		t.Fatalf("missing data dir: %v", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("a missing data folder was created")
	}

	// A second factor needs the server's master key, never a new one.
	dir := t.TempDir()
	if _, err := runCommand(t, "correct horse battery\n", "create-account", "--data-dir", dir, "--username", "bob", "--role", "viewer", "--totp"); err == nil ||
		!strings.Contains(err.Error(), "no master key") {
		t.Fatalf("totp without key: %v", err)
	}
	if _, err := auth.LoadOrCreateMasterKey(dir, ""); err != nil {
		t.Fatal(err)
	}
	out, err := runCommand(t, "correct horse battery\n", "create-account", "--data-dir", dir, "--username", "bob", "--role", "viewer", "--totp")
	if err != nil || !strings.Contains(out, "otpauth://totp/") {
		t.Fatalf("totp: %v %q", err, out)
	}
	secret := strings.Fields(strings.SplitN(out, "\n", 3)[2])[0]
	if code, err := admin.TOTPCode(secret, time.Now()); err != nil || len(code) != 6 {
		t.Fatalf("TOTP secret %q does not work: %q %v", secret, code, err)
	}
	if _, err := runCommand(t, "", "frobnicate"); err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %v", err)
	}
}
