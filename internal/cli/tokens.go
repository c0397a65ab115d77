package cli

import (
	"context"
	"fmt"
	"time"
)

type tokenJSON struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Token      string    `json:"token"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	RevokedAt  time.Time `json:"revoked_at"`
}

const tokensUsage = `usage: wisehosting tokens <command>

  list                              your personal API tokens
  create NAME [--expires-days N]    make a token (shown once)
  revoke ID                         revoke a token
`

func (c *cli) tokens(ctx context.Context, args []string) error {
	return c.subcommand(ctx, "tokens", tokensUsage, args, map[string]func(context.Context, []string) error{
		"list":   c.tokensList,
		"ls":     c.tokensList,
		"create": c.tokensCreate,
		"revoke": c.tokensRevoke,
	})
}

func (c *cli) tokensList(ctx context.Context, args []string) error {
	f := c.newFlags("tokens list")
	if _, err := f.parse(c, args, 0, 0, ""); err != nil {
		return err
	}
	cl, err := c.connect(f, true)
	if err != nil {
		return err
	}
	var toks []tokenJSON
	raw, err := cl.call(ctx, "GET", "/v1/tokens", nil, &toks)
	if err != nil {
		return err
	}
	if f.json {
		printJSON(c.stdout, raw)
		return nil
	}
	now := time.Now()
	t := newTable(c.stdout, "ID", "NAME", "CREATED", "LAST USED", "EXPIRES", "STATE")
	for _, tk := range toks {
		state := "active"
		switch {
		case !tk.RevokedAt.IsZero():
			state = "revoked"
		case !tk.ExpiresAt.IsZero() && tk.ExpiresAt.Before(now):
			state = "expired"
		}
		expires := ago(tk.ExpiresAt, now)
		if tk.ExpiresAt.IsZero() {
			expires = "never"
		}
		t.row(tk.ID, tk.Name, ago(tk.CreatedAt, now), or(ago(tk.LastUsedAt, now), "never"), expires, state)
	}
	t.flush()
	return nil
}

func (c *cli) tokensCreate(ctx context.Context, args []string) error {
	f := c.newFlags("tokens create NAME [--expires-days N]")
	days := f.Int("expires-days", 0, "days until the token expires (0: never; at most 3650)")
	pos, err := f.parse(c, args, 1, 1, "NAME")
	if err != nil {
		return err
	}
	if *days < 0 || *days > 3650 {
		return usagef(f.usage, "--expires-days %d: must be between 0 (never) and 3650", *days)
	}
	cl, err := c.connect(f, true)
	if err != nil {
		return err
	}
	body := map[string]any{"name": pos[0]}
	if *days > 0 {
		body["expires_in_days"] = *days
	}
	var tk tokenJSON
	raw, err := cl.call(ctx, "POST", "/v1/tokens", body, &tk)
	if err != nil {
		return err
	}
	if f.json {
		printJSON(c.stdout, raw)
		return nil
	}
	fmt.Fprintf(c.stdout, "Token %q created (id %s", tk.Name, tk.ID)
	if !tk.ExpiresAt.IsZero() {
		fmt.Fprintf(c.stdout, ", expires %s", tk.ExpiresAt.Local().Format("2006-01-02"))
	}
	fmt.Fprintln(c.stdout, "). It is shown only this once:")
	fmt.Fprintf(c.stdout, "\n  %s\n\nUse it as WH_TOKEN=… for scripts, or as an Authorization: Bearer header.\n", tk.Token)
	return nil
}

func (c *cli) tokensRevoke(ctx context.Context, args []string) error {
	f := c.newFlags("tokens revoke ID")
	pos, err := f.parse(c, args, 1, 1, "ID")
	if err != nil {
		return err
	}
	cl, err := c.connect(f, true)
	if err != nil {
		return err
	}
	if _, err := cl.call(ctx, "DELETE", "/v1/tokens/"+pathEscape(pos[0]), nil, nil); err != nil {
		return err
	}
	if !f.json {
		fmt.Fprintf(c.stdout, "Token %s revoked.\n", pos[0])
	}
	return nil
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
