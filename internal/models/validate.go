package models

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
)

// These validators guard every name, URL and ref that reaches git or podman.
// The control plane applies them when a user submits a value, and the
// worker applies them again before running anything: neither trusts the
// other's input.

var appNameRE = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$`)

// ValidateAppName: a DNS label (it becomes a subdomain), 1–40 characters,
// lowercase letters, digits and dashes, starting with a letter.
func ValidateAppName(name string) error {
	if !appNameRE.MatchString(name) {
		return fmt.Errorf("app name %q must be 1–40 lowercase letters, digits or dashes, start with a letter and not end with a dash", name)
	}
	return nil
}

// RepoOrigin is scheme://host[:port] of an http(s) repository URL: where
// the worker sends the app's git token (false if raw is not one).
func RepoOrigin(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", false
	}
	return u.Scheme + "://" + u.Host, true
}

// ValidateRepoURL accepts https:// URLs, and http:// only for a loopback or
// private host (a git server on the same machine or network). It refuses
// embedded credentials (use the app's git token), option-like and exotic
// forms (-…, ext::, file://, local paths, ssh://-o…).
func ValidateRepoURL(raw string) error {
	if raw == "" {
		return errors.New("repo URL is required")
	}
	if len(raw) > 2048 {
		return errors.New("repo URL is too long")
	}
	if strings.HasPrefix(raw, "-") || strings.ContainsAny(raw, " \t\r\n\x00\\") || strings.Contains(raw, "::") {
		return fmt.Errorf("repo URL %q is not a plain http(s) URL", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("repo URL %q: %w", raw, err)
	}
	if u.User != nil {
		return errors.New("repo URL must not contain credentials; set the app's git token instead")
	}
	if u.Host == "" || u.Hostname() == "" || strings.HasPrefix(u.Hostname(), "-") {
		return fmt.Errorf("repo URL %q has no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("repo URL %q must not have a query or fragment", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLocalHost(u.Hostname()) {
			return nil
		}
		return errors.New("repo URL must use https:// (http:// is allowed only for loopback or private addresses)")
	}
	return fmt.Errorf("repo URL scheme %q is not allowed: use https://", u.Scheme)
}

func isLocalHost(h string) bool {
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && (a.IsLoopback() || a.IsPrivate())
}

// ValidateBranch applies git check-ref-format's rules for a branch name,
// and refuses a leading dash so the name can never be read as an option.
func ValidateBranch(b string) error {
	if err := checkRefFormat(b); err != nil {
		return fmt.Errorf("branch %q: %w", b, err)
	}
	return nil
}

func checkRefFormat(b string) error {
	switch {
	case b == "":
		return errors.New("must not be empty")
	case len(b) > 255:
		return errors.New("too long")
	case strings.HasPrefix(b, "-"):
		return errors.New("must not start with a dash")
	case b == "@":
		return errors.New(`must not be "@"`)
	case strings.HasSuffix(b, "/") || strings.HasSuffix(b, "."):
		return errors.New("must not end with / or .")
	case strings.Contains(b, "..") || strings.Contains(b, "@{") || strings.Contains(b, "//"):
		return errors.New(`must not contain "..", "@{" or "//"`)
	}
	for _, c := range b {
		if c < 0x20 || c == 0x7f || strings.ContainsRune(" ~^:?*[\\", c) {
			return fmt.Errorf("must not contain %q", c)
		}
	}
	for _, part := range strings.Split(b, "/") {
		if strings.HasPrefix(part, ".") || strings.HasSuffix(part, ".lock") {
			return errors.New(`no component may start with "." or end with ".lock"`)
		}
	}
	return nil
}

var commitRE = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

// ValidateCommit accepts an abbreviated or full hex commit id.
func ValidateCommit(c string) error {
	if !commitRE.MatchString(c) {
		return fmt.Errorf("commit %q must be 7–64 lowercase hex digits", c)
	}
	return nil
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// MaxEnvValueBytes bounds one environment value.
const MaxEnvValueBytes = 32 << 10

// ValidateEnv checks one environment variable.
func ValidateEnv(name, value string) error {
	if !envNameRE.MatchString(name) {
		return fmt.Errorf("env name %q must be letters, digits and underscores, not starting with a digit (128 at most)", name)
	}
	if len(value) > MaxEnvValueBytes {
		return fmt.Errorf("env %s: value is larger than %d bytes", name, MaxEnvValueBytes)
	}
	if strings.ContainsRune(value, 0) {
		return fmt.Errorf("env %s: value contains a NUL byte", name)
	}
	return nil
}

// ValidateDockerfilePath accepts a relative path inside the repository.
func ValidateDockerfilePath(p string) error {
	if p == "" {
		return nil
	}
	if len(p) > 255 || strings.HasPrefix(p, "/") || strings.HasPrefix(p, "-") || strings.ContainsAny(p, "\x00\\") {
		return fmt.Errorf("dockerfile path %q must be a relative path inside the repository", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." || part == "" {
			return fmt.Errorf("dockerfile path %q must not contain empty or .. components", p)
		}
	}
	return nil
}

// ValidateHealthCheckPath accepts an absolute URL path.
func ValidateHealthCheckPath(p string) error {
	if p == "" {
		return nil
	}
	if !strings.HasPrefix(p, "/") || len(p) > 255 || strings.ContainsAny(p, " \t\r\n\x00") {
		return fmt.Errorf("health check path %q must be an absolute path like /healthz", p)
	}
	return nil
}

// Bounds of app limits.
const (
	MinMemoryBytes = 16 << 20
	MaxMemoryBytes = 1 << 40
	MaxCPUMillis   = 256_000
)

// Validate checks limits; zero fields mean "default".
func (l Limits) Validate() error {
	var errs []error
	if l.MemoryBytes != 0 && (l.MemoryBytes < MinMemoryBytes || l.MemoryBytes > MaxMemoryBytes) {
		errs = append(errs, fmt.Errorf("memory_bytes must be between %d (16 MiB) and %d (1 TiB)", MinMemoryBytes, int64(MaxMemoryBytes)))
	}
	if l.CPUMillis < 0 || l.CPUMillis > MaxCPUMillis || (l.CPUMillis != 0 && l.CPUMillis < 10) {
		errs = append(errs, fmt.Errorf("cpu_millis must be between 10 and %d", MaxCPUMillis))
	}
	if l.DiskBytes < 0 || (l.DiskBytes != 0 && l.DiskBytes < 64<<20) {
		errs = append(errs, errors.New("disk_bytes must be 0 (no quota) or at least 64 MiB"))
	}
	if l.BandwidthBitsPerSec < 0 || (l.BandwidthBitsPerSec != 0 && l.BandwidthBitsPerSec < 64_000) {
		errs = append(errs, errors.New("bandwidth_bps must be 0 (no limit) or at least 64000"))
	}
	if l.PIDs < 0 || l.PIDs > 1<<20 {
		errs = append(errs, errors.New("pids must be between 0 and 1048576"))
	}
	return errors.Join(errs...)
}

// ValidateDomain checks a host name: lowercase LDH labels of 1–63
// characters, at most 253 in all, no leading or trailing hyphen.
func ValidateDomain(d string) error {
	if d == "" || len(d) > 253 {
		return fmt.Errorf("%q: a domain has 1 to 253 characters", d)
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q: each dot-separated label has 1 to 63 characters and does not start or end with a hyphen", d)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("%q: only lowercase letters, digits, hyphens and dots", d)
			}
		}
	}
	return nil
}
