package worker

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Host probes: which OCI runtime works, whether per-container disk quotas
// work; and the per-container network limit.

// cgroupFacts is what the runtime choice depends on.
type cgroupFacts struct {
	unifiedOnly bool   // pure cgroup v2 (cgroup.controllers at the root)
	hybrid      bool   // v1 controllers plus a v2 mount at /sys/fs/cgroup/unified
	runcPath    string // "" when runc is not installed
}

// cgroupRoot and lookPath are read by probeRuntime, initPath by
// hasContainerInit; tests replace them.
var (
	cgroupRoot = "/sys/fs/cgroup"
	lookPath   = exec.LookPath
	initPath   = "/usr/libexec/podman/catatonit"
)

// hasContainerInit reports whether podman's default init (catatonit, a
// recommended package) is installed, so that `podman run --init` works.
// With it, the app is not PID 1: SIGTERM stops an app that installs no
// handler at once (instead of after the stop timeout) and zombies are
// reaped.
func hasContainerInit() bool {
	_, err := os.Stat(initPath)
	return err == nil
}

func readCgroupFacts() cgroupFacts {
	var f cgroupFacts
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		f.unifiedOnly = true
	}
	if _, err := os.Stat(filepath.Join(cgroupRoot, "unified")); err == nil {
		f.hybrid = true
		f.unifiedOnly = false
	}
	if p, err := lookPath("runc"); err == nil {
		f.runcPath = p
	}
	return f
}

// chooseRuntime decides podman's --runtime: the configured one if any;
// on a cgroup v1 or hybrid host, runc when installed (crun refuses hybrid
// cgroups: "cgroups in hybrid mode not supported"); else podman's default.
func chooseRuntime(configured string, f cgroupFacts) (runtime, reason string) {
	switch {
	case configured != "":
		return configured, "configured (PodmanRuntime)"
	case f.unifiedOnly:
		return "", "pure cgroup v2 host: podman's default runtime works"
	case f.runcPath != "":
		layout := "cgroup v1"
		if f.hybrid {
			layout = "hybrid cgroup v1/v2"
		}
		return "runc", layout + " host, where crun fails; runc is installed at " + f.runcPath
	default:
		return "", "cgroup v1/hybrid host but runc is not installed: podman's default runtime may fail (crun does on hybrid hosts); install runc or set the podman runtime in the config"
	}
}

// probeRuntime picks the OCI runtime for builds and app containers and
// says why in one log line.
func (a *Agent) probeRuntime(ctx context.Context) string {
	rt, reason := chooseRuntime(a.cfg.PodmanRuntime, readCgroupFacts())
	shown := rt
	if shown == "" {
		shown = "podman default"
	}
	a.log.Info("container runtime", "runtime", shown, "reason", reason)
	return rt
}

// probeDiskQuotaSupport reports whether `podman run --storage-opt size=`
// works: podman's graph driver is btrfs or zfs, or overlay on an XFS
// mounted with project quotas.
func (a *Agent) probeDiskQuotaSupport(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := a.run.Run(ctx, "podman", "info", "--format", "{{.Store.GraphDriverName}}\n{{.Store.GraphRoot}}")
	if err != nil {
		a.log.Warn("disk quotas off: podman info failed", "err", cmdErrText(err))
		return false
	}
	driver, root, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	driver, root = strings.TrimSpace(driver), strings.TrimSpace(root)
	var fsType, opts string
	if driver == "overlay" && root != "" {
		out, err := a.run.Run(ctx, "findmnt", "-n", "-o", "FSTYPE,OPTIONS", "--target", root)
		if err != nil {
			a.log.Warn("disk quotas off: findmnt failed", "graph_root", root, "err", cmdErrText(err))
			return false
		}
		f := strings.Fields(string(out))
		if len(f) >= 1 {
			fsType = f[0]
		}
		if len(f) >= 2 {
			opts = f[1]
		}
	}
	ok, reason := diskQuotaDecision(driver, fsType, opts)
	a.log.Info("disk quotas", "enabled", ok, "reason", reason)
	return ok
}

// diskQuotaDecision is probeDiskQuotaSupport's rule.
func diskQuotaDecision(driver, fsType, opts string) (bool, string) {
	switch driver {
	case "btrfs", "zfs":
		return true, "graph driver " + driver + " supports size quotas"
	case "overlay":
		if fsType != "xfs" {
			return false, fmt.Sprintf("overlay on %s: --storage-opt size= needs XFS with project quotas", orUnknown(fsType))
		}
		for _, o := range strings.Split(opts, ",") {
			if o == "prjquota" || o == "pquota" {
				return true, "overlay on XFS with project quotas (" + o + ")"
			}
		}
		return false, "overlay on XFS without the prjquota mount option"
	}
	return false, fmt.Sprintf("graph driver %s has no size quotas", orUnknown(driver))
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// applyBandwidthLimit shapes the egress of a container's network
// namespace to rate bits per second with a token bucket (tc tbf on eth0).
func (a *Agent) applyBandwidthLimit(containerID string, rate int64) error {
	if rate <= 0 {
		return nil
	}
	if !containerRefRE.MatchString(containerID) {
		return fmt.Errorf("bandwidth limit: bad container id %q", containerID)
	}
	ctx, cancel := context.WithTimeout(a.ctx, 30*time.Second)
	defer cancel()
	out, err := a.run.Run(ctx, "podman", "inspect", "--format", "{{.State.Pid}}", "--", containerID)
	if err != nil {
		return fmt.Errorf("bandwidth limit: find the container's process: %s", cmdErrText(err))
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("bandwidth limit: container %s has no running process (pid %q)", shortID(containerID), strings.TrimSpace(string(out)))
	}
	argv := tbfArgv(pid, rate)
	if _, err := a.run.Run(ctx, argv...); err != nil {
		return fmt.Errorf("bandwidth limit: %s", cmdErrText(err))
	}
	return nil
}

// tbfArgv is the tc command that limits pid's network namespace to rate
// bit/s. The bucket holds 20 ms of traffic (more than the one kernel tick
// tbf needs, at any HZ ≥ 100), and at least 16 KiB, so that full-size
// packets always fit.
func tbfArgv(pid int, rate int64) []string {
	burst := max(rate/8/50, 16<<10)
	return []string{"nsenter", "-t", strconv.Itoa(pid), "-n",
		"tc", "qdisc", "replace", "dev", "eth0", "root", "tbf",
		"rate", strconv.FormatInt(rate, 10) + "bit",
		"burst", strconv.FormatInt(burst, 10),
		"latency", "400ms"}
}
