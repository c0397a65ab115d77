package worker

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDiskQuotaDecision(t *testing.T) {
	for _, c := range []struct {
		driver, fs, opts string
		want             bool
	}{
		{"overlay", "ext4", "rw,relatime,discard,resv_strict,resuid=65534,resgid=65534", false}, // these machines
		{"overlay", "xfs", "rw,relatime,attr2,inode64,logbufs=8,logbsize=32k,prjquota", true},
		{"overlay", "xfs", "rw,relatime,pquota", true},
		{"overlay", "xfs", "rw,relatime,attr2,inode64,noquota", false},
		{"overlay", "xfs", "rw,relatime,pqnoenforce", false},
		{"overlay", "xfs", "rw,relatime,uquota,gquota", false},
		{"overlay", "tmpfs", "rw,prjquota", false},
		{"btrfs", "", "", true},
		{"zfs", "", "", true},
		{"vfs", "ext4", "", false},
		{"", "", "", false},
	} {
		if got, reason := diskQuotaDecision(c.driver, c.fs, c.opts); got != c.want || reason == "" {
			t.Errorf("diskQuotaDecision(%s, %s, %s) = %v (%s), want %v", c.driver, c.fs, c.opts, got, reason, c.want)
		}
	}
}

func TestProbeDiskQuotaSupport(t *testing.T) {
	const info = "podman info --format {{.Store.GraphDriverName}}\n{{.Store.GraphRoot}}"
	const findmnt = "findmnt -n -o FSTYPE,OPTIONS --target /var/lib/containers/storage"
	for _, c := range []struct {
		name, info, findmnt string
		infoErr, mntErr     error
		want                bool
		wantFindmnt         bool
	}{
		{"overlay on ext4 (here)", "overlay\n/var/lib/containers/storage\n", "ext4   rw,relatime,discard,resv_strict\n", nil, nil, false, true},
		{"overlay on xfs with prjquota", "overlay\n/var/lib/containers/storage\n", "xfs    rw,relatime,attr2,inode64,prjquota\n", nil, nil, true, true},
		{"btrfs", "btrfs\n/var/lib/containers/storage\n", "", nil, nil, true, false},
		{"podman info fails", "", "", &CommandError{ExitCode: 125, Stderr: "Error: boom"}, nil, false, false},
		{"findmnt fails", "overlay\n/var/lib/containers/storage\n", "", nil, errors.New("findmnt: not found"), false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeRunner()
			f.on(info, c.info, c.infoErr)
			f.on(findmnt, c.findmnt, c.mntErr)
			a := newTestAgent(t, f)
			var logs bytes.Buffer
			a.log = slog.New(slog.NewTextHandler(&logs, nil))
			if got := a.probeDiskQuotaSupport(a.ctx); got != c.want {
				t.Fatalf("probeDiskQuotaSupport = %v, want %v", got, c.want)
			}
			if ran := slices.Contains(f.commands(), findmnt); ran != c.wantFindmnt {
				t.Fatalf("findmnt ran: %v (%q)", ran, f.commands())
			}
			if !strings.Contains(logs.String(), "disk quotas") {
				t.Fatalf("decision not logged: %s", logs.String())
			}
		})
	}
}

func TestChooseRuntime(t *testing.T) {
	for _, c := range []struct {
		name       string
		configured string
		facts      cgroupFacts
		want       string
	}{
		{"configured wins", "crun", cgroupFacts{hybrid: true, runcPath: "/usr/sbin/runc"}, "crun"},
		{"hybrid with runc (here)", "", cgroupFacts{hybrid: true, runcPath: "/usr/sbin/runc"}, "runc"},
		{"v1 with runc", "", cgroupFacts{runcPath: "/usr/bin/runc"}, "runc"},
		{"hybrid without runc", "", cgroupFacts{hybrid: true}, ""},
		{"pure v2", "", cgroupFacts{unifiedOnly: true, runcPath: "/usr/sbin/runc"}, ""},
	} {
		got, reason := chooseRuntime(c.configured, c.facts)
		if got != c.want || reason == "" {
			t.Errorf("%s: chooseRuntime = %q (%s), want %q", c.name, got, reason, c.want)
		}
	}
}

func TestProbeRuntime(t *testing.T) {
	oldRoot, oldLook := cgroupRoot, lookPath
	t.Cleanup(func() { cgroupRoot, lookPath = oldRoot, oldLook })
	root := t.TempDir()
	cgroupRoot = root
	lookPath = func(name string) (string, error) { return "/usr/sbin/" + name, nil }

	a := newTestAgent(t, newFakeRunner())
	var logs bytes.Buffer
	a.log = slog.New(slog.NewTextHandler(&logs, nil))

	// Hybrid: v1 controllers and a v2 mount at unified.
	os.Mkdir(filepath.Join(root, "unified"), 0o755)
	if got := a.probeRuntime(a.ctx); got != "runc" {
		t.Fatalf("hybrid host: %q", got)
	}
	if !strings.Contains(logs.String(), "runtime=runc") || !strings.Contains(logs.String(), "hybrid") {
		t.Fatalf("log line: %s", logs.String())
	}
	// Pure cgroup v2.
	os.Remove(filepath.Join(root, "unified"))
	os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpu memory pids\n"), 0o644)
	if got := a.probeRuntime(a.ctx); got != "" {
		t.Fatalf("v2 host: %q", got)
	}
	// No runc on a v1 host: the default, with advice.
	os.Remove(filepath.Join(root, "cgroup.controllers"))
	lookPath = func(string) (string, error) { return "", errors.New("not found") }
	logs.Reset()
	if got := a.probeRuntime(a.ctx); got != "" || !strings.Contains(logs.String(), "install runc") {
		t.Fatalf("v1 without runc: %q %s", got, logs.String())
	}
	// Configuration wins.
	a.cfg.PodmanRuntime = "crun"
	if got := a.probeRuntime(a.ctx); got != "crun" {
		t.Fatalf("configured: %q", got)
	}
}

func TestApplyBandwidthLimit(t *testing.T) {
	f := newFakeRunner()
	f.on("podman inspect --format {{.State.Pid}} -- c1", "31337\n", nil)
	f.on("nsenter -t 31337 -n tc qdisc replace dev eth0 root tbf rate 8000000bit burst 20000 latency 400ms", "", nil)
	f.on("podman inspect --format {{.State.Pid}} -- c2", "0\n", nil)
	a := newTestAgent(t, f)
	if err := a.applyBandwidthLimit("c1", 8_000_000); err != nil {
		t.Fatal(err)
	}
	if err := a.applyBandwidthLimit("c2", 8_000_000); err == nil {
		t.Fatal("a container without a process was limited")
	}
	if err := a.applyBandwidthLimit("-x", 8_000_000); err == nil {
		t.Fatal("option-like container id accepted")
	}
	if err := a.applyBandwidthLimit("c1", 0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rate  int64
		burst string
	}{{64_000, "16384"}, {1_000_000, "16384"}, {100_000_000, "250000"}, {10_000_000_000, "25000000"}} {
		argv := tbfArgv(1, c.rate)
		if !containsSeq(argv, []string{"burst", c.burst}) || !containsSeq(argv, []string{"latency", "400ms"}) {
			t.Errorf("tbfArgv(%d) = %q, want burst %s", c.rate, argv, c.burst)
		}
	}
}
