// Package config builds the control plane's configuration once, in main:
// defaults, then WH_* environment variables, then flags, then Validate.
// Secrets may come from a file named by the matching *_FILE variable, and
// String redacts them.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wisehosting/wisehosting/internal/httpx"
	"github.com/wisehosting/wisehosting/internal/models"
)

// Server is the configuration of `wisehosting serve`.
type Server struct {
	Listen      string // API, dashboard and worker hub
	DataDir     string // SQLite database, master key
	DatabaseURL string // postgres://… to use PostgreSQL instead of SQLite
	PublicURL   string // how users and workers reach Listen
	SecretKey   string // master key (hex or base64); empty: <data-dir>/secret.key
	LogLevel    string
	LogFormat   string // "text" or "json"

	// BaseDomain: app NAME answers at NAME.<BaseDomain> on every listener.
	// "localhost" suits one machine (browsers and curl resolve
	// *.localhost to loopback).
	BaseDomain string
	// ACME turns on automatic TLS (Let's Encrypt by default) for the base
	// domain's app hosts and custom domains, served on HTTPSListen; the
	// plain listener then answers the HTTP-01 challenges too.
	ACME          bool
	ACMEEmail     string
	ACMEDirectory string // empty: Let's Encrypt production
	HTTPSListen   string

	// InternalListen is the loopback address of the internal API that
	// wisehosting-admin talks to; "" turns it off. Validate refuses any
	// address that is not loopback.
	InternalListen string

	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client (sign-in throttling, sessions, /metrics' loopback rule).
	// Empty: the connection's peer is the client.
	TrustedProxies []netip.Prefix

	// MetricsToken, when set, is the bearer token /metrics asks of every
	// scraper; when empty, /metrics answers loopback clients only.
	MetricsToken string

	// HistoryRetention is how long finished jobs, webhook deliveries,
	// violations and old build logs are kept; AuditRetention, the audit
	// logs. Zero keeps them forever.
	HistoryRetention time.Duration
	AuditRetention   time.Duration

	ShutdownTimeout time.Duration
}

// Default returns the defaults: loopback only, data in ./data.
func Default() Server {
	return Server{
		Listen:           "127.0.0.1:8080",
		DataDir:          "data",
		LogLevel:         "info",
		LogFormat:        "text",
		BaseDomain:       "localhost",
		HTTPSListen:      ":443",
		InternalListen:   "127.0.0.1:8081",
		HistoryRetention: 90 * Day,
		AuditRetention:   365 * Day,
		ShutdownTimeout:  15 * time.Second,
	}
}

// Load applies the environment (getenv) and then args on top of Default.
func Load(name string, args []string, getenv func(string) string) (Server, error) {
	c := Default()
	if err := c.fromEnv(getenv); err != nil {
		return c, err
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&c.Listen, "listen", c.Listen, "address for the API, dashboard and worker hub (env WH_LISTEN)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "folder for the SQLite database and the master key (env WH_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "postgres://… to use PostgreSQL instead of SQLite (env WH_DATABASE_URL or WH_DATABASE_URL_FILE)")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "URL users and workers reach this server at (env WH_PUBLIC_URL; default http://<listen>)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (env WH_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json (env WH_LOG_FORMAT)")
	fs.StringVar(&c.BaseDomain, "base-domain", c.BaseDomain, "apps answer at <app>.<base-domain> (env WH_BASE_DOMAIN)")
	fs.BoolVar(&c.ACME, "acme", c.ACME, "automatic TLS certificates via ACME for app hosts and custom domains (env WH_ACME=1)")
	fs.StringVar(&c.ACMEEmail, "acme-email", c.ACMEEmail, "contact address for the ACME account (env WH_ACME_EMAIL)")
	fs.StringVar(&c.ACMEDirectory, "acme-directory", c.ACMEDirectory, "ACME directory URL; empty is Let's Encrypt (env WH_ACME_DIRECTORY)")
	fs.StringVar(&c.HTTPSListen, "https-listen", c.HTTPSListen, "TLS listener when --acme is on (env WH_HTTPS_LISTEN)")
	fs.StringVar(&c.InternalListen, "internal-listen", c.InternalListen, "loopback address of the internal API for wisehosting-admin; \"off\" disables it (env WH_INTERNAL_LISTEN)")
	fs.Func("history-retention", "keep finished jobs, webhook deliveries, violations and old build logs this long, e.g. 90d or 720h; 0 keeps them (env WH_HISTORY_RETENTION; default 90d)",
		retentionFlag(&c.HistoryRetention))
	fs.Func("audit-retention", "keep the audit logs this long; 0 keeps them (env WH_AUDIT_RETENTION; default 365d)",
		retentionFlag(&c.AuditRetention))
	fs.Func("trusted-proxies", "comma-separated addresses or CIDR prefixes of reverse proxies whose X-Forwarded-For is believed (env WH_TRUSTED_PROXIES)",
		func(v string) error {
			ps, err := httpx.ParsePrefixes(v)
			if err == nil {
				c.TrustedProxies = ps
			}
			return err
		})
	fs.StringVar(&c.MetricsToken, "metrics-token", c.MetricsToken, "bearer token /metrics requires; empty: /metrics answers loopback clients only (env WH_METRICS_TOKEN or WH_METRICS_TOKEN_FILE)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long a graceful shutdown may take (env WH_SHUTDOWN_TIMEOUT)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Listen
	}
	return c, c.Validate()
}

func (c *Server) fromEnv(getenv func(string) string) error {
	set := func(dst *string, key string) {
		if v := getenv(key); v != "" {
			*dst = v
		}
	}
	set(&c.Listen, "WH_LISTEN")
	set(&c.DataDir, "WH_DATA_DIR")
	set(&c.PublicURL, "WH_PUBLIC_URL")
	set(&c.LogLevel, "WH_LOG_LEVEL")
	set(&c.LogFormat, "WH_LOG_FORMAT")
	set(&c.BaseDomain, "WH_BASE_DOMAIN")
	set(&c.ACMEEmail, "WH_ACME_EMAIL")
	set(&c.ACMEDirectory, "WH_ACME_DIRECTORY")
	set(&c.HTTPSListen, "WH_HTTPS_LISTEN")
	set(&c.InternalListen, "WH_INTERNAL_LISTEN")
	switch v := getenv("WH_ACME"); v {
	case "":
	case "1", "true", "yes", "on":
		c.ACME = true
	case "0", "false", "no", "off":
		c.ACME = false
	default:
		return fmt.Errorf("WH_ACME=%q: want 1 or 0", v)
	}
	for _, r := range []struct {
		dst *time.Duration
		key string
	}{{&c.HistoryRetention, "WH_HISTORY_RETENTION"}, {&c.AuditRetention, "WH_AUDIT_RETENTION"}} {
		if v := getenv(r.key); v != "" {
			d, err := ParseRetention(v)
			if err != nil {
				return fmt.Errorf("%s: %w", r.key, err)
			}
			*r.dst = d
		}
	}
	if v := getenv("WH_TRUSTED_PROXIES"); v != "" {
		ps, err := httpx.ParsePrefixes(v)
		if err != nil {
			return fmt.Errorf("WH_TRUSTED_PROXIES: %w", err)
		}
		c.TrustedProxies = ps
	}
	if v := getenv("WH_SHUTDOWN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("WH_SHUTDOWN_TIMEOUT: %w", err)
		}
		c.ShutdownTimeout = d
	}
	for _, s := range []struct {
		dst *string
		key string
	}{{&c.DatabaseURL, "WH_DATABASE_URL"}, {&c.SecretKey, "WH_SECRET_KEY"}, {&c.MetricsToken, "WH_METRICS_TOKEN"}} {
		v, err := secret(getenv, s.key)
		if err != nil {
			return err
		}
		if v != "" {
			*s.dst = v
		}
	}
	return nil
}

// Day is 24 hours, the unit retention periods are usually given in.
const Day = 24 * time.Hour

// ParseRetention reads a retention period: whole days ("90d"), a Go
// duration ("720h"), or "0" for keep forever.
func ParseRetention(v string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.ParseUint(n, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("retention %q: want days such as 90d, a duration such as 720h, or 0", v)
		}
		d = time.Duration(days) * Day
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return 0, fmt.Errorf("retention %q: want days such as 90d, a duration such as 720h, or 0", v)
		}
	}
	// Anything shorter than an hour would delete history users are
	// still reading, likely a typo (90s for 90d).
	if d < 0 || (d > 0 && d < time.Hour) {
		return 0, fmt.Errorf("retention %q: must be 0 (keep) or at least 1h", v)
	}
	return d, nil
}

func retentionFlag(dst *time.Duration) func(string) error {
	return func(v string) error {
		d, err := ParseRetention(v)
		if err == nil {
			*dst = d
		}
		return err
	}
}

// secret reads KEY, or the file named by KEY_FILE.
func secret(getenv func(string) string, key string) (string, error) {
	if v := getenv(key); v != "" {
		return v, nil
	}
	path := getenv(key + "_FILE")
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Validate reports every problem at once.
func (c *Server) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen %q: %w", c.Listen, err))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data-dir must not be empty"))
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		errs = append(errs, errors.New("database-url must start with postgres:// (leave it empty for SQLite in the data dir)"))
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("public-url %q must be an absolute http(s) URL", c.PublicURL))
	}
	c.BaseDomain = strings.ToLower(strings.TrimSuffix(c.BaseDomain, "."))
	if err := models.ValidateDomain(c.BaseDomain); err != nil {
		errs = append(errs, fmt.Errorf("base-domain: %w", err))
	}
	if c.ACME {
		if c.BaseDomain == "localhost" || strings.HasSuffix(c.BaseDomain, ".localhost") {
			errs = append(errs, errors.New("acme needs a public base-domain (a certificate authority cannot reach *.localhost)"))
		}
		if _, _, err := net.SplitHostPort(c.HTTPSListen); err != nil {
			errs = append(errs, fmt.Errorf("https-listen %q: %w", c.HTTPSListen, err))
		}
		if c.ACMEDirectory != "" {
			if u, err := url.Parse(c.ACMEDirectory); err != nil || u.Scheme != "https" || u.Host == "" {
				errs = append(errs, fmt.Errorf("acme-directory %q must be an https:// URL", c.ACMEDirectory))
			}
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log-level %q: want debug, info, warn or error", c.LogLevel))
	}
	if c.InternalListen == "off" {
		c.InternalListen = ""
	}
	if c.InternalListen != "" {
		if err := loopbackAddr(c.InternalListen); err != nil {
			errs = append(errs, fmt.Errorf("internal-listen %q: %w", c.InternalListen, err))
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log-format %q: want text or json", c.LogFormat))
	}
	if c.MetricsToken != "" && len(c.MetricsToken) < 16 {
		errs = append(errs, errors.New("metrics-token: use at least 16 characters (e.g. openssl rand -hex 16)"))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("shutdown-timeout must be positive"))
	}
	return errors.Join(errs...)
}

// loopbackAddr accepts host:port whose host is a loopback IP or
// "localhost": the internal API must never listen on a network interface.
func loopbackAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return errors.New("the internal API binds a loopback address only (127.0.0.1, [::1] or localhost); use \"off\" to disable it")
}

// DatabaseDSN is what the store opens: the PostgreSQL URL, or the SQLite
// file in the data dir.
func (c *Server) DatabaseDSN() string {
	if c.DatabaseURL != "" {
		return c.DatabaseURL
	}
	return filepath.Join(c.DataDir, "wisehosting.db")
}

// String is a dump for logs with secrets redacted.
func (c Server) String() string {
	db := "sqlite:" + c.DatabaseDSN()
	if c.DatabaseURL != "" {
		db = redactURL(c.DatabaseURL)
	}
	key := "file"
	if c.SecretKey != "" {
		key = "env (redacted)"
	}
	internal := c.InternalListen
	if internal == "" {
		internal = "off"
	}
	metrics := "loopback"
	if c.MetricsToken != "" {
		metrics = "token (redacted)"
	}
	return fmt.Sprintf("listen=%s data-dir=%s database=%s public-url=%s base-domain=%s acme=%t internal-listen=%s secret-key=%s metrics=%s history-retention=%s audit-retention=%s",
		c.Listen, c.DataDir, db, c.PublicURL, c.BaseDomain, c.ACME, internal, key, metrics, retentionString(c.HistoryRetention), retentionString(c.AuditRetention))
}

func retentionString(d time.Duration) string {
	switch {
	case d == 0:
		return "forever"
	case d%Day == 0:
		return fmt.Sprintf("%dd", d/Day)
	}
	return d.String()
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable, redacted)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
