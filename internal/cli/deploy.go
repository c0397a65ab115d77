package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/wisehosting/wisehosting/internal/models"
)

type deploymentJSON struct {
	ID         string    `json:"id"`
	AppID      string    `json:"app_id"`
	App        string    `json:"app"`
	Status     string    `json:"status"`
	Trigger    string    `json:"trigger"`
	Branch     string    `json:"branch"`
	Commit     string    `json:"commit"`
	Message    string    `json:"message"`
	CreatedAt  time.Time `json:"created_at"`
	FinishedAt time.Time `json:"finished_at"`
}

// Deployment states (internal/store): queued → building → starting →
// running, failed or cancelled; only running is a success.
const (
	deploymentQueued  = "queued"
	deploymentRunning = "running"
)

// followDeployFailures is how many times in a row deploy tries to reopen
// a build log stream before it gives up (about two minutes of waiting).
const followDeployFailures = 20

func (c *cli) deploy(ctx context.Context, args []string) error {
	f := c.newFlags("deploy APP [--commit SHA] [--no-follow]")
	commit := f.String("commit", "", "deploy this commit of the app's branch (default: the branch's head)")
	noFollow := f.Bool("no-follow", false, "queue the deployment and return without streaming its build log")
	pos, err := f.parse(c, args, 1, 1, "APP")
	if err != nil {
		return err
	}
	if err := appArg(f, pos[0]); err != nil {
		return err
	}
	var body any
	if *commit != "" {
		if err := models.ValidateCommit(*commit); err != nil {
			return &usageError{msg: err.Error(), usage: f.usage}
		}
		body = map[string]string{"commit": *commit}
	}
	cl, err := c.connect(f, true)
	if err != nil {
		return err
	}
	var d deploymentJSON
	raw, err := cl.call(ctx, "POST", "/v1/apps/"+pathEscape(pos[0])+"/deployments", body, &d)
	if err != nil {
		return err
	}
	return c.afterCreate(ctx, cl, f, pos[0], d, raw, *noFollow)
}

func (c *cli) rollback(ctx context.Context, args []string) error {
	f := c.newFlags("rollback APP [--to DEPLOYMENT_ID] [--no-follow]")
	to := f.String("to", "", "run this earlier deployment's version (default: the one before the current)")
	noFollow := f.Bool("no-follow", false, "queue the rollback and return without following it")
	pos, err := f.parse(c, args, 1, 1, "APP")
	if err != nil {
		return err
	}
	if err := appArg(f, pos[0]); err != nil {
		return err
	}
	body := map[string]string{}
	if *to != "" {
		body["deployment_id"] = *to
	}
	cl, err := c.connect(f, true)
	if err != nil {
		return err
	}
	var d deploymentJSON
	raw, err := cl.call(ctx, "POST", "/v1/apps/"+pathEscape(pos[0])+"/rollback", body, &d)
	if err != nil {
		return err
	}
	return c.afterCreate(ctx, cl, f, pos[0], d, raw, *noFollow)
}

// afterCreate reports a new deployment, and unless noFollow streams its
// build log until it finishes. With --json the log goes to stderr and the
// final deployment's JSON to stdout.
func (c *cli) afterCreate(ctx context.Context, cl *client, f *flags, app string, d deploymentJSON, raw []byte, noFollow bool) error {
	if noFollow {
		if f.json {
			printJSON(c.stdout, raw)
		} else {
			fmt.Fprintf(c.stdout, "Deployment %s of %s is %s.\n", d.ID, app, d.Status)
		}
		return nil
	}
	out := c.stdout
	if f.json {
		out = c.stderr
	}
	fmt.Fprintf(out, "==> deployment %s of %s\n", d.ID, app)
	final, err := c.followBuild(ctx, cl, d.ID, out)
	if err != nil {
		if errInterrupted(ctx, err) {
			return fmt.Errorf("%w following; deployment %s goes on (see `wisehosting apps show %s`)", errStopped, d.ID, app)
		}
		return err
	}
	raw, err = cl.call(ctx, "GET", "/v1/deployments/"+pathEscape(d.ID), nil, &final)
	if err != nil {
		return fmt.Errorf("deployment %s finished; reading its result: %w", d.ID, err)
	}
	if f.json {
		printJSON(c.stdout, raw)
	}
	if final.Status != deploymentRunning {
		reason := final.Status
		if final.Message != "" {
			reason += ": " + oneLine(final.Message)
		}
		return fmt.Errorf("deployment %s %s", d.ID, reason)
	}
	if !f.json {
		var a appJSON
		if _, err := cl.call(ctx, "GET", "/v1/apps/"+pathEscape(app), nil, &a); err == nil && a.URL != "" {
			fmt.Fprintf(out, "==> %s is running at %s\n", app, a.URL)
		} else {
			fmt.Fprintf(out, "==> %s is running\n", app)
		}
	}
	return nil
}

// followBuild streams a deployment's build log to out until the server
// sends "end", and returns the deployment with its final status.
func (c *cli) followBuild(ctx context.Context, cl *client, id string, out io.Writer) (deploymentJSON, error) {
	lw := &lineWriter{w: out}
	var final deploymentJSON
	lastStatus, lastID := "", ""
	path := "/v1/deployments/" + pathEscape(id) + "/logs?follow=1"
	err := c.follow(ctx, cl, path, &lastID, followDeployFailures, func(ev sseEvent) (bool, error) {
		switch ev.Name {
		case "log":
			lw.write(ev.Data)
		case "status":
			if ev.Data != lastStatus {
				lastStatus = ev.Data
				note := ""
				if ev.Data == deploymentQueued {
					note = " (waiting for a worker)"
				}
				lw.line("==> " + ev.Data + note)
			}
		case "end":
			lw.finish()
			final.Status = ev.Data
			return true, nil
		}
		return false, nil
	})
	lw.finish()
	if err != nil {
		return final, err
	}
	if final.Status == "" {
		return final, errors.New("the build log stream ended without a result")
	}
	return final, nil
}

// lineWriter writes log text whole lines at a time, so that status lines
// never split a line of the log; a partial line waits for its end (or
// for finish, or until it is long).
type lineWriter struct {
	w       io.Writer
	pending string
}

const maxPendingLine = 64 << 10

func (l *lineWriter) write(s string) {
	l.pending += s
	if i := strings.LastIndexByte(l.pending, '\n'); i >= 0 {
		io.WriteString(l.w, l.pending[:i+1])
		l.pending = l.pending[i+1:]
	}
	if len(l.pending) > maxPendingLine {
		l.finish()
	}
}

// line writes a line of its own (a status).
func (l *lineWriter) line(s string) {
	io.WriteString(l.w, s+"\n")
}

// finish writes a pending partial line, ended.
func (l *lineWriter) finish() {
	if l.pending != "" {
		io.WriteString(l.w, l.pending+"\n")
		l.pending = ""
	}
}

// oneLine keeps a message's first line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i]) + " …"
	}
	return s
}
