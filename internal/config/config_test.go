package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad(t *testing.T) {
	c, err := Load("serve", nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8080" || c.PublicURL != "http://127.0.0.1:8080" || c.DatabaseDSN() != filepath.Join("data", "wisehosting.db") {
		t.Fatalf("defaults: %+v", c)
	}
	// Flags win over the environment, which wins over defaults.
	c, err = Load("serve", []string{"--listen", "127.0.0.1:9000"}, env(map[string]string{"WH_LISTEN": "127.0.0.1:7000", "WH_DATA_DIR": "/srv/wh"}))
	if err != nil || c.Listen != "127.0.0.1:9000" || c.DataDir != "/srv/wh" {
		t.Fatalf("precedence: %+v %v", c, err)
	}
	f := filepath.Join(t.TempDir(), "db")
	os.WriteFile(f, []byte("postgres://u:hunter2@db/wh\n"), 0o600)
	c, err = Load("serve", nil, env(map[string]string{"WH_DATABASE_URL_FILE": f}))
	if err != nil || c.DatabaseURL != "postgres://u:hunter2@db/wh" {
		t.Fatalf("_FILE: %+v %v", c, err)
	}
	if strings.Contains(c.String(), "hunter2") {
		t.Fatalf("String leaks the password: %s", c)
	}
}

func TestValidate(t *testing.T) {
	bad := map[string][]string{
		"listen without port": {"--listen", "localhost"},
		"mysql url":           {"--database-url", "mysql://x"},
		"relative public url": {"--public-url", "example.com"},
		"log level":           {"--log-level", "loud"},
		"stray argument":      {"extra"},
		"retention typo":      {"--history-retention", "90s"},
		"retention unit":      {"--history-retention", "3 months"},
		"negative retention":  {"--audit-retention", "-1h"},
		"short metrics token": {"--metrics-token", "secret"},
	}
	for name, args := range bad {
		if _, err := Load("serve", args, env(nil)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRetention(t *testing.T) {
	c, err := Load("serve", nil, env(nil))
	if err != nil || c.HistoryRetention != 90*Day || c.AuditRetention != 365*Day {
		t.Fatalf("default retention: %v %v (%v)", c.HistoryRetention, c.AuditRetention, err)
	}
	c, err = Load("serve", []string{"--history-retention", "30d", "--audit-retention", "0"},
		env(map[string]string{"WH_HISTORY_RETENTION": "7d", "WH_AUDIT_RETENTION": "720h"}))
	if err != nil || c.HistoryRetention != 30*Day || c.AuditRetention != 0 {
		t.Fatalf("flags over env: %v %v (%v)", c.HistoryRetention, c.AuditRetention, err)
	}
	if !strings.Contains(c.String(), "history-retention=30d audit-retention=forever") {
		t.Fatalf("String: %s", c)
	}
	if _, err := Load("serve", nil, env(map[string]string{"WH_HISTORY_RETENTION": "ninety"})); err == nil ||
		!strings.Contains(err.Error(), "WH_HISTORY_RETENTION") {
		t.Fatalf("bad env retention: %v", err)
	}
	for in, want := range map[string]string{"90d": "2160h0m0s", "36h": "36h0m0s", "0": "0s", "1h": "1h0m0s"} {
		if d, err := ParseRetention(in); err != nil || d.String() != want {
			t.Errorf("ParseRetention(%q) = %v, %v; want %s", in, d, err, want)
		}
	}
}

func TestMetricsTokenRedacted(t *testing.T) {
	c, err := Load("serve", nil, env(map[string]string{"WH_METRICS_TOKEN": "0123456789abcdef-scrape"}))
	if err != nil || c.MetricsToken != "0123456789abcdef-scrape" {
		t.Fatalf("WH_METRICS_TOKEN: %q %v", c.MetricsToken, err)
	}
	if strings.Contains(c.String(), "scrape") {
		t.Fatalf("String leaks the metrics token: %s", c)
	}
}

func TestTrustedProxies(t *testing.T) {
	c, err := Load("serve", []string{"--trusted-proxies", "127.0.0.1, 10.0.0.0/8"}, env(nil))
	if err != nil || len(c.TrustedProxies) != 2 || c.TrustedProxies[1].String() != "10.0.0.0/8" {
		t.Fatalf("flag: %v %v", c.TrustedProxies, err)
	}
	c, err = Load("serve", nil, env(map[string]string{"WH_TRUSTED_PROXIES": "::1"}))
	if err != nil || len(c.TrustedProxies) != 1 || c.TrustedProxies[0].String() != "::1/128" {
		t.Fatalf("env: %v %v", c.TrustedProxies, err)
	}
	if _, err := Load("serve", []string{"--trusted-proxies", "proxy.local"}, env(nil)); err == nil {
		t.Fatal("a host name was accepted")
	}
}
