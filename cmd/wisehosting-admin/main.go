// Command wisehosting-admin is the operators' tool: live state and levers
// of a WiseHosting control plane over its loopback internal API. See
// `wisehosting-admin help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/wisehosting/wisehosting/internal/admincli"
)

// version is set at link time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := admincli.Run(ctx, os.Args[1:], admincli.Options{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Version: version})
	stop()
	os.Exit(code)
}
