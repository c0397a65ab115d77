package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// defaultServer is where a control plane listens out of the box.
const defaultServer = "http://127.0.0.1:8080"

// savedConfig is what login keeps between runs.
type savedConfig struct {
	Server string `json:"server"`
	Token  string `json:"token,omitempty"`
	// TokenID lets logout revoke the token it forgets.
	TokenID string `json:"token_id,omitempty"`
	Email   string `json:"email,omitempty"`
}

// configPath is $WH_CONFIG, else <user config dir>/wisehosting/config.json.
func (c *cli) configPath() (string, error) {
	if p := c.getenv("WH_CONFIG"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("config: %w (set WH_CONFIG to a file path)", err)
	}
	return filepath.Join(dir, "wisehosting", "config.json"), nil
}

// loadConfig reads the saved config; a missing file is an empty config.
func (c *cli) loadConfig() (savedConfig, string, error) {
	var cfg savedConfig
	path, err := c.configPath()
	if err != nil {
		return cfg, "", err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, path, nil
	}
	if err != nil {
		return cfg, path, fmt.Errorf("config: %w", err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, path, fmt.Errorf("config %s: %w (fix or delete it, then run `wisehosting login`)", path, err)
	}
	return cfg, path, nil
}

// saveConfig writes cfg readable by its owner only (file 0600 in a 0700
// folder), replacing the old file atomically.
func saveConfig(path string, cfg savedConfig) error {
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".config-*.json")
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("config: %w", err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("config: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("config: write %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// normalizeServer checks a control plane URL and drops a trailing slash.
func normalizeServer(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("server URL %q: want http://host:port or https://host", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// target is where a command sends its requests, and with which token.
type target struct {
	server string
	token  string
}

// resolve picks the server and the token for a command: the token is
// WH_TOKEN, else the saved one, which goes only to the server it was
// issued by.
func (c *cli) resolve(f *flags) (target, error) {
	cfg, _, err := c.loadConfig()
	if err != nil {
		return target{}, err
	}
	server, err := c.pickServer(f, cfg)
	if err != nil {
		return target{}, err
	}
	t := target{server: server, token: c.getenv("WH_TOKEN")}
	if t.token == "" && cfg.Token != "" {
		if saved, err := normalizeServer(cfg.Server); err == nil && saved == server {
			t.token = cfg.Token
		}
	}
	return t, nil
}

// pickServer is --server, else WH_SERVER, else the saved server, else
// the default.
func (c *cli) pickServer(f *flags, cfg savedConfig) (string, error) {
	raw := f.server
	if raw == "" {
		raw = c.getenv("WH_SERVER")
	}
	if raw == "" {
		raw = cfg.Server
	}
	if raw == "" {
		raw = defaultServer
	}
	server, err := normalizeServer(raw)
	if err != nil {
		return "", &usageError{msg: err.Error(), usage: f.usage}
	}
	return server, nil
}
