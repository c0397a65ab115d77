package admincli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/wisehosting/wisehosting/internal/adminrpc"
)

// dial opens the admin RPC with the saved session.
func (a *app) dial(ctx context.Context) (*adminrpc.Conn, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	conn, err := c.Dial(ctx)
	if err != nil {
		return nil, explain(err)
	}
	return conn, nil
}

// act runs one mutating call and prints its result.
func (a *app) act(ctx context.Context, method string, target adminrpc.Target) error {
	conn, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var res adminrpc.ActionResult
	if err := conn.Call(cctx, method, target, &res); err != nil {
		return err
	}
	if a.json {
		return printJSON(a.Stdout, res)
	}
	fmt.Fprintln(a.Stdout, res.Message)
	return nil
}

func workerAction(method string) func(*app, context.Context, []string) error {
	verb := strings.TrimPrefix(method, "worker.")
	return func(a *app, ctx context.Context, args []string) error {
		pos, err := parse(a.flags(verb), args, 1, 1, "WORKER (a name or id)")
		if err != nil {
			return err
		}
		return a.act(ctx, method, adminrpc.Target{Worker: pos[0]})
	}
}

func appOrUserAction(appMethod, userMethod string) func(*app, context.Context, []string) error {
	verb := strings.TrimPrefix(appMethod, "app.")
	return func(a *app, ctx context.Context, args []string) error {
		fs := a.flags(verb)
		user := ""
		if userMethod != "" {
			fs.StringVar(&user, "user", "", "act on this user (email or id) instead of an app")
		}
		pos, err := parse(fs, args, 0, 1, "")
		if err != nil {
			return err
		}
		switch {
		case user != "" && len(pos) > 0:
			return usagef("%s: give an APP or --user, not both", verb)
		case user != "":
			return a.act(ctx, userMethod, adminrpc.Target{User: user})
		case len(pos) == 1:
			return a.act(ctx, appMethod, adminrpc.Target{App: pos[0]})
		case userMethod != "":
			return usagef("%s: missing APP (or --user EMAIL)", verb)
		}
		return usagef("%s: missing APP", verb)
	}
}

// watch prints live events until Ctrl-C, reconnecting (with backoff) when
// the control plane goes away; an ended session stops it.
func (a *app) watch(ctx context.Context, args []string) error {
	if _, err := parse(a.flags("watch"), args, 0, 0, ""); err != nil {
		return err
	}
	backoff := time.Second
	for {
		err := a.watchOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var ce *adminrpc.ConnError
		if adminrpc.IsUnauthorized(err) || (err != nil && !errors.As(err, &ce) && !strings.Contains(err.Error(), "closed the connection")) {
			return err
		}
		if !a.json {
			fmt.Fprintf(a.Stderr, "wisehosting-admin: %v; reconnecting in %s\n", err, backoff)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (a *app) watchOnce(ctx context.Context) error {
	conn, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.Subscribe(ctx); err != nil {
		return err
	}
	if !a.json {
		fmt.Fprintf(a.Stderr, "watching %s; Ctrl-C to stop\n", a.addr)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-conn.Done():
			if err := conn.Err(); err != nil {
				return err
			}
			return errors.New("the control plane closed the connection")
		case ev := <-conn.Events:
			if a.json {
				b, err := json.Marshal(ev, json.Deterministic(true))
				if err != nil {
					return err
				}
				a.Stdout.Write(append(b, '\n'))
				continue
			}
			fmt.Fprintf(a.Stdout, "%s  %s\n", ev.At.Local().Format("15:04:05"), ev.Describe())
		}
	}
}

// logs prints an app's runtime log, and follows it with -f.
func (a *app) logs(ctx context.Context, args []string) error {
	fs := a.flags("logs")
	follow := fs.Bool("f", false, "follow: print new lines until Ctrl-C")
	n := fs.Int("n", 100, "how many recent lines (at most 1000)")
	pos, err := parse(fs, args, 1, 1, "APP")
	if err != nil {
		return err
	}
	conn, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var l adminrpc.Logs
	if err := conn.Call(ctx, adminrpc.MethodLogs, adminrpc.LogsParams{App: pos[0], Lines: *n, Follow: *follow}, &l); err != nil {
		return err
	}
	print := func(ls []adminrpc.LogLine) {
		for _, x := range ls {
			if a.json {
				b, _ := json.Marshal(x, json.Deterministic(true))
				a.Stdout.Write(append(b, '\n'))
				continue
			}
			stream := ""
			if x.Stream == "stderr" {
				stream = " [stderr]"
			}
			fmt.Fprintf(a.Stdout, "%s%s %s\n", x.At.Local().Format("2006-01-02 15:04:05"), stream, x.Msg)
		}
	}
	print(l.Lines)
	if !*follow {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-conn.Done():
			if err := conn.Err(); err != nil {
				return err
			}
			return errors.New("the control plane closed the connection")
		case more := <-conn.Logs:
			if more.ID == l.ID {
				print(more.Lines)
			}
		}
	}
}
