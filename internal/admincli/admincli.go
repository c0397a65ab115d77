// Package admincli is wisehosting-admin, the operators' command: a client
// of the control plane's loopback internal API (/internal/v1) and of its
// admin RPC. It runs on the control plane's machine, signs in with an
// admin account (created there with `wisehosting admin create-account`)
// and keeps the session in the user's config folder (file mode 0600).
//
// Tables are for people; --json prints the API's JSON for scripts (one
// document, or one line per event for watch and status --watch).
package admincli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/wisehosting/wisehosting/internal/adminrpc"
)

// Usage is the command's help.
const Usage = `usage: wisehosting-admin [--addr HOST:PORT] [--json] <command> [flags] [args]

The operators' view of a WiseHosting control plane, over its loopback
internal API (run it on the control plane's machine).

session:
  login --username U [--totp CODE]   sign in; the password is read from standard input
  logout                             end the session
  whoami                             the signed-in account

look (every role):
  status [--watch] [--interval 2s]   one-screen overview; --watch keeps it up to date
  workers                            workers: online, last message, connection, queued jobs, resources
  apps                               every team's apps: status, worker, last deploy, violations
  jobs                               pending, unacknowledged, running and recent failed jobs
  violations [--limit N]             recent policy violations
  users [--limit N] | teams          accounts and teams
  audit [--limit N]                  the admin audit log
  watch                              live events (workers, deployments, violations, admin actions) until Ctrl-C
  logs APP [-f] [-n N]               an app's runtime log; -f follows it

act (operator; revoke: superadmin; every call is audited):
  drain WORKER | undrain WORKER      stop or resume placing new apps on a worker (name or id)
  suspend APP | suspend --user EMAIL suspend an app (stopped, its hosts answer 503) or a user
  resume APP | resume --user EMAIL   undo a suspension (a suspended app is started again)
  stop APP                           force-stop an app
  revoke WORKER                      revoke a worker's key and close its connection

  version                            this tool's version

global flags (before or after the command):
  --addr HOST:PORT   the internal API (env WH_ADMIN_ADDR; default 127.0.0.1:8081)
  --json             print JSON instead of tables
`

// Options are the process's I/O and environment.
type Options struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Version        string // of this binary, for `version`
}

// app is one invocation.
type app struct {
	Options
	addr string
	json bool
	in   *bufio.Reader
}

// errUsage is a wrong command line: exit code 2.
type errUsage struct{ msg string }

func (e *errUsage) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &errUsage{fmt.Sprintf(format, args...)} }

// Run runs one command line and returns the exit code: 0 success, 1
// failure, 2 bad usage.
func Run(ctx context.Context, args []string, o Options) int {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	a := &app{Options: o, addr: adminrpc.DefaultAddr}
	if v := o.Getenv("WH_ADMIN_ADDR"); v != "" {
		a.addr = v
	}
	err := a.run(ctx, args)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, context.Canceled):
		return 130
	}
	var ue *errUsage
	if errors.As(err, &ue) {
		fmt.Fprintf(o.Stderr, "wisehosting-admin: %s\n(run `wisehosting-admin help` for the commands)\n", err)
		return 2
	}
	if adminrpc.IsUnauthorized(err) {
		fmt.Fprintf(o.Stderr, "wisehosting-admin: %s\n", err)
		return 1
	}
	fmt.Fprintf(o.Stderr, "wisehosting-admin: %s\n", err)
	return 1
}

// flags returns a command's flag set with the global flags.
func (a *app) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("wisehosting-admin "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.addr, "addr", a.addr, "the internal API's address")
	fs.BoolVar(&a.json, "json", a.json, "print JSON")
	return fs
}

// parse parses flags and positional arguments in any order and checks
// their number.
func parse(fs *flag.FlagSet, args []string, min, max int, names string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if at := len(args) - len(rest); at > 0 && args[at-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if len(pos) < min {
		return nil, usagef("%s: missing %s", fs.Name(), names)
	}
	if max >= 0 && len(pos) > max {
		return nil, usagef("%s: unexpected arguments: %s", fs.Name(), strings.Join(pos[max:], " "))
	}
	return pos, nil
}

func (a *app) run(ctx context.Context, args []string) error {
	global := a.flags("")
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(a.Stdout, Usage)
			return err
		}
		return usagef("%v", err)
	}
	args = global.Args()
	if len(args) == 0 {
		fmt.Fprint(a.Stderr, Usage)
		return usagef("no command given")
	}
	name, args := args[0], args[1:]
	cmd, ok := commands[name]
	if !ok {
		return usagef("unknown command %q", name)
	}
	return cmd(a, ctx, args)
}

var commands map[string]func(*app, context.Context, []string) error

func init() {
	commands = map[string]func(*app, context.Context, []string) error{
		"help": func(a *app, _ context.Context, _ []string) error {
			fmt.Fprint(a.Stdout, Usage)
			return nil
		},
		"version": func(a *app, _ context.Context, _ []string) error {
			fmt.Fprintln(a.Stdout, a.Version)
			return nil
		},
		"login":      (*app).login,
		"logout":     (*app).logout,
		"whoami":     (*app).whoami,
		"status":     (*app).status,
		"workers":    (*app).workers,
		"apps":       (*app).apps,
		"jobs":       (*app).jobs,
		"violations": (*app).violations,
		"users":      (*app).users,
		"teams":      (*app).teams,
		"audit":      (*app).audit,
		"watch":      (*app).watch,
		"logs":       (*app).logs,
		"drain":      workerAction(adminrpc.MethodDrain),
		"undrain":    workerAction(adminrpc.MethodUndrain),
		"revoke":     workerAction(adminrpc.MethodRevoke),
		"suspend":    appOrUserAction(adminrpc.MethodSuspendApp, adminrpc.MethodSuspendUser),
		"resume":     appOrUserAction(adminrpc.MethodResumeApp, adminrpc.MethodResumeUser),
		"stop":       appOrUserAction(adminrpc.MethodStopApp, ""),
	}
}
