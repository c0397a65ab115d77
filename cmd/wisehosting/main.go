// Command wisehosting is the WiseHosting control plane.
//
//	wisehosting serve [flags]   run the control plane (see --help)
//	wisehosting dev [flags]     control plane + local worker, for one machine
//	wisehosting admin …         operators' accounts of wisehosting-admin (local)
//	wisehosting version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/wisehosting/wisehosting/internal/admin"
	"github.com/wisehosting/wisehosting/internal/cli"
	"github.com/wisehosting/wisehosting/internal/config"
	"github.com/wisehosting/wisehosting/internal/devmode"
	"github.com/wisehosting/wisehosting/internal/server"
)

// version is set at link time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "wisehosting:", err)
		os.Exit(1)
	}
}

const usage = `usage: wisehosting <command> [flags]

commands:
  dev       run the whole platform on this machine: control plane + a local worker
  serve     run the control plane (API, dashboard, worker hub)
  admin     manage wisehosting-admin accounts on this server (wisehosting admin help)
  version   print the version
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if code, ok := cli.Run(ctx, args, os.Stdin, stdout, stderr); ok {
		if code != 0 {
			os.Exit(code)
		}
		return nil
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		cfg, err := config.Load("wisehosting serve", args[1:], os.Getenv)
		if err != nil {
			return err
		}
		log := newLogger(stderr, cfg)
		log.Info("starting", "version", version, "config", cfg.String())
		s, err := server.New(ctx, cfg, log)
		if err != nil {
			return err
		}
		return s.Run(ctx)
	case "dev":
		log := newLogger(stderr, config.Default())
		return devmode.Run(ctx, args[1:], devmode.Options{Version: version, Getenv: os.Getenv, Stdout: stdout, Logger: log})
	case "admin":
		return admin.Command{Stdin: os.Stdin, Stdout: stdout, Stderr: stderr, Getenv: os.Getenv}.Run(ctx, args[1:])
	case "version", "--version":
		fmt.Fprintln(stdout, version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		fmt.Fprint(stdout, "\n"+cli.Usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func newLogger(w io.Writer, cfg config.Server) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
