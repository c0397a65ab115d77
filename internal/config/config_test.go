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
	}
	for name, args := range bad {
		if _, err := Load("serve", args, env(nil)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
