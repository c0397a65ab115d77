package worker

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"time"
)

// Config is the worker agent's configuration, built once in main.
type Config struct {
	ControlPlane string // https://… (http:// only to a loopback or RFC 1918 IP)
	APIKey       string // the raw worker API key
	Name         string // this worker's name as shown to operators
	DataDir      string // job records, log cursors
	Address      string // where the control plane reaches this worker's apps
	Version      string

	PortLo, PortHi int    // host ports for apps
	BuildNetwork   string // podman network used by builds
	// BaseImages are the FROM images of generated Dockerfiles, by kind:
	// "go", "node", "python", "static".
	BaseImages map[string]string
	// PodmanRuntime forces podman's --runtime ("runc", "crun"); empty
	// means probe for one that works on this host.
	PodmanRuntime string
	// Ulimits are passed to every app container (--ulimit), replacing
	// podman's defaults, which an unprivileged host may not grant.
	Ulimits []string

	CloneTimeout time.Duration
	BuildTimeout time.Duration
	MaxRepoBytes int64
	// BuildMemoryBytes caps each build's memory (podman build --memory),
	// so one tenant's build cannot starve the host and its running apps:
	// at least this, or the app's own memory limit if larger. Builds also
	// get half the CPU weight of apps (--cpu-shares 512).
	BuildMemoryBytes int64 // 2 GiB

	// HealthTimeout bounds the wait for a new version to answer (its
	// health-check path, else a TCP connect) before traffic moves to it.
	HealthTimeout time.Duration // 60 s
	// DrainDelay is how long the old container keeps running after the
	// new one was announced (app_status), so the router can switch and
	// in-flight requests can finish. Negative: no wait.
	DrainDelay time.Duration // 2 s

	HeartbeatInterval time.Duration // 30 s
	HealthInterval    time.Duration // 30 s
	LogInterval       time.Duration // 3 s
	StatsInterval     time.Duration // 10 s
	BuildLogInterval  time.Duration // 2 s

	Logger *slog.Logger
	Runner Runner // nil: ExecRunner
}

// Defaults fills zero fields.
func (c *Config) Defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	set(&c.CloneTimeout, 5*time.Minute)
	set(&c.BuildTimeout, 20*time.Minute)
	set(&c.HealthTimeout, 60*time.Second)
	set(&c.DrainDelay, 2*time.Second)
	set(&c.HeartbeatInterval, 30*time.Second)
	set(&c.HealthInterval, 30*time.Second)
	set(&c.LogInterval, 3*time.Second)
	set(&c.StatsInterval, 10*time.Second)
	set(&c.BuildLogInterval, 2*time.Second)
	if c.PortLo == 0 && c.PortHi == 0 {
		c.PortLo, c.PortHi = 20000, 29999
	}
	if c.BuildNetwork == "" {
		c.BuildNetwork = "wisehosting-build"
	}
	if c.MaxRepoBytes == 0 {
		c.MaxRepoBytes = 1 << 30
	}
	if c.BuildMemoryBytes == 0 {
		c.BuildMemoryBytes = 2 << 30
	}
	if c.Address == "" {
		c.Address = "127.0.0.1"
	}
	if c.Ulimits == nil {
		c.Ulimits = []string{"nofile=1024:1024", "nproc=4096:4096"}
	}
	if c.BaseImages == nil {
		c.BaseImages = map[string]string{}
	}
	for k, v := range map[string]string{
		"go":     "docker.io/library/golang:1.22-bookworm",
		"node":   "docker.io/library/node:20-bookworm-slim",
		"python": "docker.io/library/python:3.12-slim-bookworm",
		"static": "docker.io/library/busybox:stable",
	} {
		if c.BaseImages[k] == "" {
			c.BaseImages[k] = v
		}
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if err := validateControlPlaneURL(c.ControlPlane); err != nil {
		errs = append(errs, err)
	}
	if c.APIKey == "" {
		errs = append(errs, errors.New("an API key is required (--api-key-file or WH_API_KEY)"))
	}
	if c.Name == "" {
		errs = append(errs, errors.New("a worker name is required (--name)"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("a data dir is required (--data-dir)"))
	}
	if c.BuildMemoryBytes < 256<<20 {
		errs = append(errs, fmt.Errorf("build memory %d MiB: builds need at least 256 MiB", c.BuildMemoryBytes>>20))
	}
	if c.HealthTimeout < 0 {
		errs = append(errs, fmt.Errorf("health timeout %s must not be negative", c.HealthTimeout))
	}
	if c.PortLo < 1024 || c.PortHi > 65535 || c.PortLo > c.PortHi {
		errs = append(errs, fmt.Errorf("port range %d-%d must be within 1024-65535", c.PortLo, c.PortHi))
	}
	return errors.Join(errs...)
}

// validateControlPlaneURL accepts https:// always, and http:// only when
// the host is a loopback or RFC 1918 IP literal (a WireGuard or private
// mesh address that already encrypts the traffic): the API key must never
// cross the public internet in clear.
func validateControlPlaneURL(base string) error {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return fmt.Errorf("control plane URL %q must be an absolute https:// URL", base)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("control plane URL %q must not carry credentials, a query or a fragment", base)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		ip, err := netip.ParseAddr(u.Hostname())
		if err == nil && (ip.IsLoopback() || ip.Unmap().Is4() && ip.IsPrivate()) {
			return nil
		}
		return fmt.Errorf("control plane URL %q: http:// is allowed only to a loopback or RFC 1918 IP address; use https://", base)
	}
	return fmt.Errorf("control plane URL %q: scheme must be https", base)
}
