package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

type workerJSON struct {
	ID          int64     `json:"id"`
	Name        string    `json:"name"`
	Status      string    `json:"status"`
	Draining    bool      `json:"draining"`
	Hostname    string    `json:"hostname"`
	Version     string    `json:"version"`
	Address     string    `json:"address"`
	CPUs        int       `json:"cpus"`
	MemoryBytes int64     `json:"memory_bytes"`
	LastSeenAt  time.Time `json:"last_seen_at"`
	APIKey      string    `json:"api_key"`
}

const workersUsage = `usage: wisehosting workers <command>   (instance owner and admins)

  list          every worker and its state
  add NAME      create a worker and print its API key (shown once)
  revoke ID     revoke a worker's key and disconnect it
`

func (c *cli) workers(ctx context.Context, args []string) error {
	return c.subcommand(ctx, "workers", workersUsage, args, map[string]func(context.Context, []string) error{
		"list":   c.workersList,
		"ls":     c.workersList,
		"add":    c.workersAdd,
		"create": c.workersAdd,
		"revoke": c.workersRevoke,
	})
}

// nextLinkRE reads the next page's path from a Link header.
var nextLinkRE = regexp.MustCompile(`<([^>]+)>\s*;\s*rel="?next"?`)

func (c *cli) workersList(ctx context.Context, args []string) error {
	f := c.newFlags("workers list")
	if _, err := f.parse(c, args, 0, 0, ""); err != nil {
		return err
	}
	cl, err := c.connect(f, true)
	if err != nil {
		return err
	}
	// Every page, in id order: the API pages large fleets.
	var all []json.RawMessage
	for path := "/v1/workers"; path != ""; {
		var page []json.RawMessage
		_, hdr, err := cl.callHeader(ctx, "GET", path, nil, &page)
		if err != nil {
			return err
		}
		all = append(all, page...)
		path = ""
		if m := nextLinkRE.FindStringSubmatch(hdr.Get("Link")); m != nil && strings.HasPrefix(m[1], "/v1/workers?") {
			path = m[1]
		}
	}
	if f.json {
		out, err := json.Marshal(all)
		if err != nil {
			return fmt.Errorf("workers list: %w", err)
		}
		if all == nil {
			out = []byte("[]")
		}
		printJSON(c.stdout, out)
		return nil
	}
	if len(all) == 0 {
		fmt.Fprintln(c.stdout, "No workers yet: add one with `wisehosting workers add NAME`.")
		return nil
	}
	now := time.Now()
	t := newTable(c.stdout, "ID", "NAME", "STATUS", "HOSTNAME", "ADDRESS", "VERSION", "CPUS", "MEMORY", "LAST SEEN")
	for _, raw := range all {
		var w workerJSON
		if err := json.Unmarshal(raw, &w); err != nil {
			return fmt.Errorf("workers list: unexpected answer from %s: %w", cl.server, err)
		}
		status := w.Status
		if w.Draining {
			status += " (draining)"
		}
		var cpuCount, mem string
		if w.CPUs > 0 {
			cpuCount = strconv.Itoa(w.CPUs)
		}
		if w.MemoryBytes > 0 {
			mem = bytesIEC(w.MemoryBytes)
		}
		t.row(strconv.FormatInt(w.ID, 10), w.Name, status, w.Hostname, w.Address, w.Version, cpuCount, mem, or(ago(w.LastSeenAt, now), "never"))
	}
	t.flush()
	return nil
}

func (c *cli) workersAdd(ctx context.Context, args []string) error {
	f := c.newFlags("workers add NAME")
	pos, err := f.parse(c, args, 1, 1, "NAME")
	if err != nil {
		return err
	}
	cl, err := c.connect(f, true)
	if err != nil {
		return err
	}
	var w workerJSON
	raw, err := cl.call(ctx, "POST", "/v1/workers", map[string]string{"name": pos[0]}, &w)
	if err != nil {
		return err
	}
	if f.json {
		printJSON(c.stdout, raw)
		return nil
	}
	keyFile := "/etc/wisehosting/" + w.Name + ".key"
	fmt.Fprintf(c.stdout, "Worker %s created (id %d). Its API key is shown only this once:\n\n  %s\n\n", w.Name, w.ID, w.APIKey)
	fmt.Fprintf(c.stdout, "On the worker's machine, save the key and start the agent:\n\n")
	fmt.Fprintf(c.stdout, "  mkdir -p /etc/wisehosting && (umask 077; echo '%s' > %s)\n", w.APIKey, keyFile)
	fmt.Fprintf(c.stdout, "  worker-agent --control-plane %s --name %s --api-key-file %s\n", cl.server, w.Name, keyFile)
	return nil
}

func (c *cli) workersRevoke(ctx context.Context, args []string) error {
	f := c.newFlags("workers revoke ID")
	pos, err := f.parse(c, args, 1, 1, "ID")
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return usagef(f.usage, "worker ID %q: want the number `wisehosting workers list` shows", pos[0])
	}
	cl, err := c.connect(f, true)
	if err != nil {
		return err
	}
	if _, err := cl.call(ctx, "DELETE", "/v1/workers/"+strconv.FormatInt(id, 10), nil, nil); err != nil {
		return err
	}
	if !f.json {
		fmt.Fprintf(c.stdout, "Worker %d revoked: its key no longer works and its connection is closed.\n", id)
	}
	return nil
}
