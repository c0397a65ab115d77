package admincli

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"golang.org/x/term"

	"github.com/wisehosting/wisehosting/internal/adminrpc"
)

func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v, json.Deterministic(true), jsontext.WithIndent("  "))
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// table writes aligned columns; empty cells show "-".
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		c = strings.NewReplacer("\t", " ", "\n", " ").Replace(c)
		if c == "" {
			c = "-"
		}
		cells[i] = c
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() { t.tw.Flush() }

// ago says how long ago t was ("12s ago"); "" for no time.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	return span(now.Sub(t)) + " ago"
}

func span(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return strconv.Itoa(int(d.Hours()/24)) + "d"
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func bytesIEC(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return strings.TrimSuffix(strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64), ".0") + " " + string("KMGTP"[exp]) + "iB"
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return ""
}

// get fetches a view with the saved session.
func (a *app) get(ctx context.Context, path string, out any) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	return explain(c.Get(ctx, path, out))
}

// simple is a read command without arguments beyond a few query flags.
func (a *app) simple(ctx context.Context, name string, args []string, withLimit bool, path string, out any) error {
	fs := a.flags(name)
	limit := 0
	if withLimit {
		fs.IntVar(&limit, "limit", 0, "how many (newest first)")
	}
	if _, err := parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	return a.get(ctx, path, out)
}

func (a *app) workers(ctx context.Context, args []string) error {
	var ws []adminrpc.Worker
	if err := a.simple(ctx, "workers", args, false, "/internal/v1/workers", &ws); err != nil {
		return err
	}
	if a.json {
		return printJSON(a.Stdout, ws)
	}
	printWorkers(a.Stdout, ws)
	return nil
}

func printWorkers(w io.Writer, ws []adminrpc.Worker) {
	if len(ws) == 0 {
		fmt.Fprintln(w, "No workers.")
		return
	}
	t := newTable(w, "ID", "NAME", "STATUS", "LAST MESSAGE", "CONNECTED", "QUEUED", "APPS", "CPU", "MEMORY", "DISK", "ADDRESS", "VERSION")
	for _, x := range ws {
		status := x.Status
		if x.Draining {
			status += ",draining"
		}
		last := ""
		if x.LastMessageAgeSeconds >= 0 {
			last = span(seconds(x.LastMessageAgeSeconds)) + " ago"
		}
		conn := ""
		if !x.ConnectedAt.IsZero() {
			conn = span(seconds(x.ConnectionAgeSeconds))
		}
		var cpu, mem, disk string
		if r := x.Resources; r != nil {
			cpu = fmt.Sprintf("%.0f%% of %d", r.CPUPercent, r.CPUs)
			if r.MemoryTotalBytes > 0 {
				mem = bytesIEC(r.MemoryUsedBytes) + "/" + bytesIEC(r.MemoryTotalBytes)
			}
			if r.DiskTotalBytes > 0 {
				disk = bytesIEC(r.DiskUsedBytes) + "/" + bytesIEC(r.DiskTotalBytes)
			}
		}
		t.row(strconv.FormatInt(x.ID, 10), x.Name, status, last, conn, strconv.Itoa(x.QueuedJobs), strconv.Itoa(x.Apps),
			cpu, mem, disk, x.Address, x.Version)
	}
	t.flush()
}

func (a *app) apps(ctx context.Context, args []string) error {
	var as []adminrpc.App
	if err := a.simple(ctx, "apps", args, false, "/internal/v1/apps", &as); err != nil {
		return err
	}
	if a.json {
		return printJSON(a.Stdout, as)
	}
	if len(as) == 0 {
		fmt.Fprintln(a.Stdout, "No apps.")
		return nil
	}
	now := time.Now()
	t := newTable(a.Stdout, "NAME", "TEAM", "STATUS", "WORKER", "LAST DEPLOY", "VIOLATIONS 24H")
	for _, x := range as {
		status := x.Status
		if x.Suspended {
			status += " (suspended)"
		}
		last := ""
		if d := x.LastDeploy; d != nil {
			last = d.Status + " " + ago(d.CreatedAt, now)
		}
		t.row(x.Name, x.Team, status, x.Worker, last, strconv.Itoa(x.Violations24h))
	}
	t.flush()
	return nil
}

func (a *app) jobs(ctx context.Context, args []string) error {
	var js adminrpc.Jobs
	if err := a.simple(ctx, "jobs", args, false, "/internal/v1/jobs", &js); err != nil {
		return err
	}
	if a.json {
		return printJSON(a.Stdout, js)
	}
	fmt.Fprintf(a.Stdout, "pending %d   unacknowledged %d   running %d   done %d   failed %d\n\n",
		js.Counts["pending"], js.Counts["sent"], js.Counts["acked"], js.Counts["done"], js.Counts["failed"])
	now := time.Now()
	t := newTable(a.Stdout, "STATE", "JOB", "TYPE", "APP", "WORKER", "ATTEMPTS", "UPDATED", "ERROR")
	n := 0
	for _, g := range []struct {
		name string
		js   []adminrpc.Job
	}{{"pending", js.Pending}, {"unacknowledged", js.Unacknowledged}, {"running", js.Running}, {"failed", js.Failed}} {
		for _, j := range g.js {
			worker := ""
			if j.WorkerID != 0 {
				worker = "#" + strconv.FormatInt(j.WorkerID, 10)
			}
			t.row(g.name, j.ID, j.Type, j.App, worker, strconv.Itoa(j.Attempts), ago(j.UpdatedAt, now), j.LastError)
			n++
		}
	}
	if n == 0 {
		fmt.Fprintln(a.Stdout, "No pending, unacknowledged, running or failed jobs.")
		return nil
	}
	t.flush()
	return nil
}

func (a *app) violations(ctx context.Context, args []string) error {
	var vs []adminrpc.Violation
	if err := a.simple(ctx, "violations", args, true, "/internal/v1/violations", &vs); err != nil {
		return err
	}
	if a.json {
		return printJSON(a.Stdout, vs)
	}
	if len(vs) == 0 {
		fmt.Fprintln(a.Stdout, "No violations.")
		return nil
	}
	t := newTable(a.Stdout, "AT", "APP", "KIND", "ACTION", "WORKER", "MESSAGE")
	for _, v := range vs {
		t.row(v.At.Local().Format("2006-01-02 15:04:05"), v.App, v.Kind, v.Action, "#"+strconv.FormatInt(v.WorkerID, 10), v.Message)
	}
	t.flush()
	return nil
}

func (a *app) users(ctx context.Context, args []string) error {
	var us []adminrpc.User
	if err := a.simple(ctx, "users", args, true, "/internal/v1/users", &us); err != nil {
		return err
	}
	if a.json {
		return printJSON(a.Stdout, us)
	}
	now := time.Now()
	t := newTable(a.Stdout, "EMAIL", "NAME", "INSTANCE ROLE", "SUSPENDED", "CREATED", "LAST LOGIN")
	for _, u := range us {
		t.row(u.Email, u.Name, u.InstanceRole, yes(u.Suspended), u.CreatedAt.Local().Format("2006-01-02"), ago(u.LastLoginAt, now))
	}
	t.flush()
	return nil
}

func (a *app) teams(ctx context.Context, args []string) error {
	var ts []adminrpc.Team
	if err := a.simple(ctx, "teams", args, false, "/internal/v1/teams", &ts); err != nil {
		return err
	}
	if a.json {
		return printJSON(a.Stdout, ts)
	}
	t := newTable(a.Stdout, "SLUG", "NAME", "MEMBERS", "APPS", "PERSONAL")
	for _, x := range ts {
		t.row(x.Slug, x.Name, strconv.Itoa(x.Members), strconv.Itoa(x.Apps), yes(x.Personal))
	}
	t.flush()
	return nil
}

func (a *app) audit(ctx context.Context, args []string) error {
	var es []adminrpc.AuditEntry
	if err := a.simple(ctx, "audit", args, true, "/internal/v1/audit", &es); err != nil {
		return err
	}
	if a.json {
		return printJSON(a.Stdout, es)
	}
	if len(es) == 0 {
		fmt.Fprintln(a.Stdout, "The audit log is empty.")
		return nil
	}
	t := newTable(a.Stdout, "AT", "WHO", "ACTION", "TARGET", "RESULT", "FROM", "DETAIL")
	for _, e := range es {
		t.row(e.At.Local().Format("2006-01-02 15:04:05"), e.Username, e.Action, e.Target, e.Result, e.RemoteAddr, e.Detail)
	}
	t.flush()
	return nil
}

// status prints the one-screen overview, once or (--watch) every interval
// until Ctrl-C.
func (a *app) status(ctx context.Context, args []string) error {
	fs := a.flags("status")
	watch := fs.Bool("watch", false, "redraw every --interval until Ctrl-C")
	every := fs.Duration("interval", 2*time.Second, "how often --watch redraws")
	if _, err := parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *every < 200*time.Millisecond {
		return usagef("status: --interval must be at least 200ms")
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	tty := false
	if f, ok := a.Stdout.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	t := time.NewTicker(*every)
	defer t.Stop()
	for {
		var st adminrpc.Status
		var ws []adminrpc.Worker
		err := c.Get(ctx, "/internal/v1/status", &st)
		if err == nil && !a.json {
			err = c.Get(ctx, "/internal/v1/workers", &ws)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !*watch || adminrpc.IsUnauthorized(err) {
				return explain(err)
			}
			fmt.Fprintf(a.Stderr, "wisehosting-admin: %v (retrying)\n", err)
		} else if a.json {
			b, err := json.Marshal(st, json.Deterministic(true))
			if err != nil {
				return err
			}
			a.Stdout.Write(append(b, '\n'))
		} else {
			if *watch && tty {
				io.WriteString(a.Stdout, "\x1b[H\x1b[2J") // home, clear
			}
			printStatus(a.Stdout, a.addr, st, ws)
			if *watch {
				fmt.Fprintf(a.Stdout, "\nrefreshing every %s; Ctrl-C to stop\n", *every)
			}
		}
		if !*watch {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func printStatus(w io.Writer, addr string, st adminrpc.Status, ws []adminrpc.Worker) {
	c := st.Counts
	fmt.Fprintf(w, "WiseHosting control plane %s  (%s, %s schema %d)  at %s\n", st.Version, st.GoVersion, st.Database, st.SchemaVersion, addr)
	fmt.Fprintf(w, "up %s, since %s\n\n", span(seconds(st.UptimeSeconds)), st.StartedAt.Local().Format("2006-01-02 15:04:05"))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "workers\t%d online of %d\t%d draining\n", c.WorkersOnline, c.Workers, c.WorkersDraining)
	fmt.Fprintf(tw, "apps\t%d running of %d\t%d suspended\n", c.AppsRunning, c.Apps, c.AppsSuspended)
	fmt.Fprintf(tw, "users\t%d\t%d suspended, %d teams\n", c.Users, c.UsersSuspended, c.Teams)
	fmt.Fprintf(tw, "jobs\t%d pending, %d unacknowledged\t%d running, %d failed\n", c.JobsPending, c.JobsUnacked, c.JobsRunning, c.JobsFailed)
	fmt.Fprintf(tw, "violations\t%d in 24 h\t\n", c.Violations24h)
	h := st.Hub
	fmt.Fprintf(tw, "hub\t%d connections\tenvelopes in %d, out %d, rejected %d%s\n", h.Connections, h.TotalIn, h.TotalOut, h.TotalRejected, rejections(h.Rejected))
	tw.Flush()
	if len(ws) > 0 {
		fmt.Fprintln(w)
		printWorkers(w, worstWorkers(ws, statusWorkers))
		if n := len(ws) - statusWorkers; n > 0 {
			fmt.Fprintf(w, "… and %d more (wisehosting-admin workers)\n", n)
		}
	}
}

// statusWorkers is how many workers the status screen lists.
const statusWorkers = 12

// worstWorkers returns at most n workers, those that need attention first:
// offline, then draining, then the longest silent.
func worstWorkers(ws []adminrpc.Worker, n int) []adminrpc.Worker {
	if len(ws) <= n {
		return ws
	}
	rank := func(w adminrpc.Worker) int {
		switch {
		case w.Status == "revoked":
			return 3
		case !w.Online:
			return 0
		case w.Draining:
			return 1
		}
		return 2
	}
	out := append([]adminrpc.Worker(nil), ws...)
	sort.SliceStable(out, func(i, j int) bool {
		if ri, rj := rank(out[i]), rank(out[j]); ri != rj {
			return ri < rj
		}
		return out[i].LastMessageAgeSeconds > out[j].LastMessageAgeSeconds
	})
	return out[:n]
}

// rejections lists the non-zero rejection reasons: " (hmac 3, replay 1)".
func rejections(m map[string]int64) string {
	var parts []string
	for k, v := range m {
		if v > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, v))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	sort.Strings(parts)
	return " (" + strings.Join(parts, ", ") + ")"
}
