package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

type logLineJSON struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Stream string    `json:"stream"`
	Msg    string    `json:"msg"`
}

// maxTail is the most lines the API returns at once.
const maxTail = 1000

// logs prints an app's last runtime lines and, with -f, follows new ones
// until Ctrl-C, resuming after the last line seen when the stream drops.
func (c *cli) logs(ctx context.Context, args []string) error {
	f := c.newFlags("logs APP [-f] [--tail N]")
	follow := f.Bool("f", false, "follow: keep printing new lines until Ctrl-C")
	f.BoolVar(follow, "follow", false, "same as -f")
	tail := f.Int("tail", 100, "print the last N lines first (0 to "+strconv.Itoa(maxTail)+")")
	pos, err := f.parse(c, args, 1, 1, "APP")
	if err != nil {
		return err
	}
	app := pos[0]
	if err := appArg(f, app); err != nil {
		return err
	}
	if *tail < 0 || *tail > maxTail {
		return usagef(f.usage, "--tail %d: must be between 0 and %d", *tail, maxTail)
	}
	cl, err := c.connect(f, true)
	if err != nil {
		return err
	}
	base := "/v1/apps/" + pathEscape(app) + "/logs"
	var lines []json.RawMessage
	if *tail > 0 || *follow {
		n := max(*tail, 1) // with --tail 0, the last line only marks where to start
		if _, err := cl.call(ctx, "GET", base+"?limit="+strconv.Itoa(n), nil, &lines); err != nil {
			if *follow && errInterrupted(ctx, err) {
				return nil
			}
			return err
		}
	}
	lastID := ""
	for _, raw := range lines {
		var l logLineJSON
		if err := json.Unmarshal(raw, &l); err != nil {
			return fmt.Errorf("logs: unexpected line from %s: %w", cl.server, err)
		}
		lastID = strconv.FormatInt(l.ID, 10)
		if *tail > 0 {
			c.printLogLine(f.json, raw, l)
		}
	}
	if !*follow {
		return nil
	}
	if lastID == "" {
		lastID = "0" // no line yet: everything from the first one on
	}
	err = c.follow(ctx, cl, base+"?follow=1&limit="+strconv.Itoa(maxTail), &lastID, 0, func(ev sseEvent) (bool, error) {
		if ev.Name != "log" {
			return false, nil
		}
		var l logLineJSON
		if err := json.Unmarshal([]byte(ev.Data), &l); err != nil {
			return true, fmt.Errorf("logs: unexpected event from %s: %w", cl.server, err)
		}
		c.printLogLine(f.json, []byte(ev.Data), l)
		return false, nil
	})
	if errInterrupted(ctx, err) {
		return nil // Ctrl-C is how following ends
	}
	return err
}

// printLogLine prints one runtime line: its JSON with --json, else
// "<time> <stream> <message>".
func (c *cli) printLogLine(asJSON bool, raw []byte, l logLineJSON) {
	if asJSON {
		printJSON(c.stdout, raw)
		return
	}
	fmt.Fprintf(c.stdout, "%s %s %s\n", l.At.Local().Format("2006-01-02T15:04:05.000"), l.Stream, l.Msg)
}
