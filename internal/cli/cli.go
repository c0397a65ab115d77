// Package cli is the user's command line (`wisehosting login`, `apps`,
// `deploy`, `logs`, …). It talks to the control plane's HTTP API only, with
// a bearer token saved by `login`, and never runs external programs.
//
// cmd/wisehosting hands it every command that Commands lists:
//
//	if code, ok := cli.Run(ctx, args, os.Stdin, os.Stdout, os.Stderr); ok { os.Exit(code) }
package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Usage lists the user commands, for the binary's help text.
const Usage = `user commands (flags --server URL and --json work on each):
  login      sign in and save an API token
  logout     forget (and revoke) the saved token
  whoami     show who the saved token belongs to
  apps       list, create, show and delete apps
  env        list, set and unset an app's environment
  deploy     deploy an app and stream its build log
  rollback   run an earlier version of an app again
  logs       show or follow an app's runtime logs
  restart    restart an app
  stop       stop an app
  workers    list, add and revoke workers (instance admins)
  tokens     list, create and revoke personal API tokens

Run 'wisehosting <command> --help' for a command's flags.
`

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed (API error, failed deployment, …)
	exitUsage = 2 // the command line is wrong
	// exitInterrupted is what a shell reports for Ctrl-C (128 + SIGINT);
	// logs -f, which only ends that way, exits 0 instead.
	exitInterrupted = 130
)

// commands maps each top-level name to its handler. Nouns with
// sub-commands dispatch again inside their handler.
var commands = map[string]func(c *cli, ctx context.Context, args []string) error{
	"login":    (*cli).login,
	"logout":   (*cli).logout,
	"whoami":   (*cli).whoami,
	"apps":     (*cli).apps,
	"env":      (*cli).env,
	"deploy":   (*cli).deploy,
	"rollback": (*cli).rollback,
	"logs":     (*cli).logs,
	"restart":  (*cli).restart,
	"stop":     (*cli).stop,
	"workers":  (*cli).workers,
	"tokens":   (*cli).tokens,
}

// Commands returns the top-level command names Run handles, sorted.
func Commands() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Run runs one user command; args[0] is the command's name. handled is
// false (and nothing is printed) when args[0] is not one of Commands.
// Cancelling ctx (Ctrl-C) ends streams and prompts.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (exitCode int, handled bool) {
	if len(args) == 0 {
		return 0, false
	}
	run, ok := commands[args[0]]
	if !ok {
		return 0, false
	}
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	return c.exit(run(c, ctx, args[1:])), true
}

// cli is one invocation's I/O and environment.
type cli struct {
	stdin          io.Reader
	in             *bufio.Reader // stdin, buffered once so that prompts share it
	stdout, stderr io.Writer
	getenv         func(string) string
}

// usageError is a wrong command line: exit 2 with the command's usage.
type usageError struct {
	msg   string
	usage string
}

func (e *usageError) Error() string { return e.msg }

func usagef(usage, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), usage: usage}
}

// errHelp means the help text was printed on request: exit 0.
var errHelp = errors.New("help requested")

// errStopped wraps what a command has to say when Ctrl-C stopped it.
var errStopped = errors.New("stopped")

// exit prints err the way users see it and returns the exit code.
func (c *cli) exit(err error) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return exitOK
	case errors.Is(err, errStopped):
		fmt.Fprintf(c.stderr, "wisehosting: %s\n", err)
		return exitInterrupted
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(c.stderr, "wisehosting: interrupted")
		return exitInterrupted
	case errors.As(err, &ue):
		fmt.Fprintf(c.stderr, "wisehosting: %s\n", ue.msg)
		if ue.usage != "" {
			fmt.Fprintf(c.stderr, "usage: %s\n", strings.TrimPrefix(strings.TrimSpace(ue.usage), "usage: "))
		}
		return exitUsage
	default:
		fmt.Fprintf(c.stderr, "wisehosting: %s\n", err)
		return exitError
	}
}

// subcommand dispatches a noun's verb ("apps list"). usage is the noun's
// help; "help", -h and --help print it.
func (c *cli) subcommand(ctx context.Context, noun, usage string, args []string,
	verbs map[string]func(context.Context, []string) error) error {
	if len(args) == 0 {
		return usagef(usage, "%s: missing sub-command", noun)
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(c.stdout, usage)
		return errHelp
	}
	run, ok := verbs[args[0]]
	if !ok {
		return usagef(usage, "%s: unknown sub-command %q", noun, args[0])
	}
	return run(ctx, args[1:])
}
