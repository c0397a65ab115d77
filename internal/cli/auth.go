package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

type userJSON struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	InstanceRole string    `json:"instance_role"`
	CreatedAt    time.Time `json:"created_at"`
}

type teamJSON struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Slug     string `json:"slug"`
	Personal bool   `json:"personal"`
	Role     string `json:"role"`
}

const loginUsage = "login [--server URL] [--email E] [--password-stdin]"

// login signs in with email and password, creates a personal API token
// named cli@<hostname>, signs the session out again, and saves the token.
func (c *cli) login(ctx context.Context, args []string) error {
	f := c.newFlags(loginUsage)
	email := f.String("email", "", "account email (asked for when missing)")
	pwStdin := f.Bool("password-stdin", false, "read the password from the first line of stdin (needs --email)")
	if _, err := f.parse(c, args, 0, 0, ""); err != nil {
		return err
	}
	if *pwStdin && *email == "" {
		return usagef(f.usage, "--password-stdin needs --email (stdin holds the password)")
	}
	old, path, cfgErr := c.loadConfig()
	if cfgErr != nil {
		old = savedConfig{} // a broken file is replaced below
	}
	server, err := c.pickServer(f, old)
	if err != nil {
		return err
	}
	cl := &client{server: server, http: newHTTPClient()} // no token: login needs none
	if *email == "" {
		if *email, err = c.ask(ctx, "Email: ", "the email"); err != nil {
			return err
		}
	}
	*email = strings.TrimSpace(*email)
	if *email == "" {
		return errors.New("login: an email is required")
	}
	var password string
	if *pwStdin {
		password, err = c.readLine(ctx, "the password")
	} else {
		password, err = c.askSecret(ctx, "Password: ", "the password")
	}
	if err != nil {
		return err
	}
	if password == "" {
		return errors.New("login: the password is empty")
	}
	if insecureServer(cl.server) {
		fmt.Fprintf(c.stderr, "wisehosting: warning: %s is plain http to a remote host; the password crosses the network unencrypted\n", cl.server)
	}

	var sess struct {
		Token string   `json:"token"`
		User  userJSON `json:"user"`
	}
	if _, err := cl.call(ctx, "POST", "/v1/auth/login", map[string]string{"email": *email, "password": password}, &sess); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	session := &client{server: cl.server, token: sess.Token, http: cl.http}
	var tok tokenJSON
	if _, err := session.call(ctx, "POST", "/v1/tokens", map[string]string{"name": tokenName()}, &tok); err != nil {
		return fmt.Errorf("login: create an API token: %w", err)
	}
	// The session was only needed to make the token.
	_, _ = session.call(ctx, "POST", "/v1/auth/logout", nil, nil)

	if cfgErr != nil {
		if path, err = c.configPath(); err != nil {
			return err
		}
	}
	if old.TokenID != "" && old.Token != "" && old.Server == cl.server {
		prev := &client{server: old.Server, token: old.Token, http: cl.http}
		_, _ = prev.call(ctx, "DELETE", "/v1/tokens/"+pathEscape(old.TokenID), nil, nil) // the token it replaces
	}
	cfg := savedConfig{Server: cl.server, Token: tok.Token, TokenID: tok.ID, Email: sess.User.Email}
	if err := saveConfig(path, cfg); err != nil {
		return err
	}
	if f.json {
		out, _ := json.Marshal(map[string]string{"server": cfg.Server, "email": cfg.Email, "token_id": cfg.TokenID, "config": path})
		printJSON(c.stdout, out)
		return nil
	}
	fmt.Fprintf(c.stdout, "Logged in to %s as %s.\n", cfg.Server, cfg.Email)
	fmt.Fprintf(c.stdout, "API token %q saved in %s.\n", tok.Name, path)
	return nil
}

// tokenName names the token login creates.
func tokenName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	name := "cli@" + host
	if len(name) > 100 {
		name = name[:100]
	}
	return name
}

// insecureServer reports a plain-http server that is not on this machine
// or a private network.
func insecureServer(server string) bool {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "http" {
		return false
	}
	h := u.Hostname()
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return false
	}
	ip := net.ParseIP(h)
	return ip == nil || !(ip.IsLoopback() || ip.IsPrivate())
}

// logout forgets the saved token and revokes it on the server.
func (c *cli) logout(ctx context.Context, args []string) error {
	f := c.newFlags("logout")
	if _, err := f.parse(c, args, 0, 0, ""); err != nil {
		return err
	}
	cfg, path, err := c.loadConfig()
	if err != nil {
		return err
	}
	if cfg.Token == "" {
		fmt.Fprintln(c.stdout, "Not logged in.")
		return nil
	}
	cl := &client{server: cfg.Server, token: cfg.Token, http: newHTTPClient()}
	switch {
	case cfg.TokenID != "":
		_, err = cl.call(ctx, "DELETE", "/v1/tokens/"+pathEscape(cfg.TokenID), nil, nil)
	case strings.HasPrefix(cfg.Token, "whs_"): // a session token saved by hand
		_, err = cl.call(ctx, "POST", "/v1/auth/logout", nil, nil)
	default:
		err = errors.New("its id was not saved")
	}
	if err != nil && !errors.Is(err, errNotLoggedIn) { // 401: it no longer works anyway
		fmt.Fprintf(c.stderr, "wisehosting: warning: could not revoke the token on the server (%v); "+
			"revoke it with `wisehosting tokens revoke ID` or in the dashboard\n", err)
	}
	cfg.Token, cfg.TokenID = "", ""
	if err := saveConfig(path, cfg); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "Logged out of %s.\n", cfg.Server)
	if c.getenv("WH_TOKEN") != "" {
		fmt.Fprintln(c.stderr, "wisehosting: note: WH_TOKEN is set and still used")
	}
	return nil
}

// whoami shows the token's user and teams.
func (c *cli) whoami(ctx context.Context, args []string) error {
	f := c.newFlags("whoami")
	if _, err := f.parse(c, args, 0, 0, ""); err != nil {
		return err
	}
	cl, err := c.connect(f, true)
	if err != nil {
		return err
	}
	var me struct {
		User  userJSON   `json:"user"`
		Teams []teamJSON `json:"teams"`
	}
	raw, err := cl.call(ctx, "GET", "/v1/me", nil, &me)
	if err != nil {
		return err
	}
	if f.json {
		printJSON(c.stdout, raw)
		return nil
	}
	fields(c.stdout, "user", me.User.Email, "name", me.User.Name, "instance role", me.User.InstanceRole, "server", cl.server)
	fmt.Fprintln(c.stdout)
	t := newTable(c.stdout, "TEAM", "NAME", "ROLE")
	for _, tm := range me.Teams {
		name := tm.Name
		if tm.Personal {
			name += " (personal)"
		}
		t.row(tm.Slug, name, tm.Role)
	}
	t.flush()
	return nil
}
