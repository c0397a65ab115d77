package worker

// How the agent attaches to what runs: at start-up, it settles the new
// versions that deploys cut short left behind (reconcileNextContainers);
// then the monitor follows containers without polling podman: inotify on
// the container log folders and on podman's exit folder, the kernel log for
// OOM kills (conmon misses them on cgroup v1 hybrid hosts), and statfs.
// Linux only, like the rest of the worker.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wisehosting/wisehosting/internal/models"
)

// ---- new versions left behind ----

// instanceFile holds the agent's instance id in its data dir.
const instanceFile = "agent-id"

// loadInstanceID returns the agent's instance id, made on first start
// and kept in the data dir, so it survives restarts of the agent.
func loadInstanceID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, instanceFile)
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); labelValueRE.MatchString(id) && id != "" {
			return id, nil
		}
	}
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("worker: instance id: %w", err)
	}
	id := hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("worker: instance id: %w", err)
	}
	return id, nil
}

// reconcileNextContainers settles, once at start-up and before any job
// runs, every new version (NextContainerName) that a deploy of this agent
// cut short by a crash left behind (see settleNext). Only this agent's
// (LabelAgent): another agent sharing the host may be checking its own
// new version right now. Failures are logged: the next deploy of the app
// settles it again.
func (a *Agent) reconcileNextContainers(ctx context.Context) {
	cs, err := a.listContainers(ctx)
	if err != nil {
		a.log.Warn("start-up: list containers", "err", err)
		return
	}
	for _, c := range cs {
		app, ok := nextOf(c)
		if !ok || c.Labels[LabelAgent] != a.instance {
			continue
		}
		if _, _, _, err := a.settleNext(ctx, app, cs); err != nil {
			a.log.Warn("start-up: settle a new version left behind", "app", app, "err", err)
		}
	}
}

// nextOf returns the app whose new version c is: one of ours, named
// NextContainerName of the app its label names.
func nextOf(c psContainer) (string, bool) {
	app := c.Labels[LabelApp]
	if c.Labels[LabelManaged] != "true" || models.ValidateAppName(app) != nil {
		return "", false
	}
	return app, slices.Contains(c.Names, NextContainerName(app))
}

// settleNext decides what a new version of app left in cs by an earlier
// deploy is, and returns the app's current container (if any) and cs as
// it is after that:
//   - the deploy had switched traffic to it (its id is in the switch
//     record, written before the app_status that moves the route), or
//     there is no app container any more, or only a stopped one while the
//     new version runs: only the end of the switch is missing; the old
//     container is removed and the new version takes the app's name;
//   - else the deploy did not get to switch: the new version is removed
//     (a deploy job that did not finish is redelivered and runs again).
func (a *Agent) settleNext(ctx context.Context, app string, cs []psContainer) (psContainer, bool, []psContainer, error) {
	name, next := ContainerName(app), NextContainerName(app)
	cur, hasCur := findContainer(cs, name)
	nc, hasNext := findContainer(cs, next)
	switched := a.switchedTo(app)
	if !hasNext {
		if switched != "" {
			a.recordSwitch(app, "")
		}
		return cur, hasCur, cs, nil
	}
	if got, ok := nextOf(nc); !ok || got != app {
		return cur, hasCur, cs, fmt.Errorf("container %s was not made by this worker for app %s: remove it", next, app)
	}
	out := slices.Clone(cs)
	if hasCur && switched != nc.ID && (isRunningState(cur.State) || !isRunningState(nc.State)) {
		a.log.Info("removing a new version a deploy did not finish", "app", app, "container", shortID(nc.ID))
		if err := a.removeContainer(ctx, nc.ID); err != nil {
			return cur, hasCur, cs, err
		}
		a.recordSwitch(app, "")
		out = slices.DeleteFunc(out, func(c psContainer) bool { return c.ID == nc.ID })
		return cur, hasCur, out, nil
	}
	a.log.Info("completing a deploy's switch to its new version", "app", app, "container", shortID(nc.ID))
	if hasCur {
		a.expectStop(cur.ID)
		if err := a.removeContainer(ctx, cur.ID); err != nil {
			return cur, hasCur, cs, err
		}
		out = slices.DeleteFunc(out, func(c psContainer) bool { return c.ID == cur.ID })
	}
	if err := a.renameContainer(ctx, nc.ID, name); err != nil {
		return psContainer{}, false, out, err
	}
	a.recordSwitch(app, "")
	for i := range out {
		if out[i].ID == nc.ID {
			out[i].Names = []string{name}
			nc = out[i]
		}
	}
	return nc, true, out, nil
}

// switchFile records, per app, the new version a deploy has switched
// traffic to and not yet renamed: a crash in between (during the drain)
// must complete that switch, never undo it (the route already points at
// the new version). Jobs run one at a time and the start-up sweep before
// them, so the file has one writer.
const switchFile = "switches.json"

// recordSwitch records (id) or forgets ("") the switch of app. A record
// that cannot be written is logged: settling then falls back to what
// runs.
func (a *Agent) recordSwitch(app, id string) {
	path := filepath.Join(a.cfg.DataDir, switchFile)
	m := a.readSwitches()
	if id == "" {
		if _, ok := m[app]; !ok {
			return
		}
		delete(m, app)
	} else {
		m[app] = id
	}
	var err error
	if len(m) == 0 {
		err = os.Remove(path) // nothing in flight: no file
	} else {
		var b []byte
		if b, err = json.Marshal(m); err == nil {
			err = writeFileSynced(path, b)
		}
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		a.log.Warn("record a deploy's switch", "app", app, "err", err)
	}
}

// switchedTo is the new version app was switched to, if recorded.
func (a *Agent) switchedTo(app string) string { return a.readSwitches()[app] }

func (a *Agent) readSwitches() map[string]string {
	m := map[string]string{}
	b, err := os.ReadFile(filepath.Join(a.cfg.DataDir, switchFile))
	if err == nil && json.Unmarshal(b, &m) != nil {
		a.log.Warn("switch record unreadable; ignored", "file", switchFile)
		m = map[string]string{}
	}
	return m
}

// ---- inotify ----

// inotifyEvent is one decoded inotify event.
type inotifyEvent struct {
	wd   int32
	mask uint32
	name string
}

// watcher is one inotify instance. Its file is pollable, so a blocked
// read ends when the watcher is closed.
type watcher struct {
	fd int
	f  *os.File

	mu    sync.Mutex
	dirs  map[int32]string // wd → folder
	byDir map[string]int32
}

func newWatcher() (*watcher, error) {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	return &watcher{fd: fd, f: os.NewFile(uintptr(fd), "inotify"), dirs: map[int32]string{}, byDir: map[string]int32{}}, nil
}

// watchDir adds (or returns the existing) watch on dir.
func (w *watcher) watchDir(dir string, mask uint32) (int32, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if wd, ok := w.byDir[dir]; ok {
		return wd, nil
	}
	wd, err := syscall.InotifyAddWatch(w.fd, dir, mask)
	if err != nil {
		return -1, err
	}
	w.dirs[int32(wd)], w.byDir[dir] = dir, int32(wd)
	return int32(wd), nil
}

// unwatchDir removes the watch on dir, if any.
func (w *watcher) unwatchDir(dir string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if wd, ok := w.byDir[dir]; ok {
		delete(w.byDir, dir)
		delete(w.dirs, wd)
		_, _ = syscall.InotifyRmWatch(w.fd, uint32(wd))
	}
}

// forget drops a watch the kernel removed (IN_IGNORED).
func (w *watcher) forget(wd int32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if dir, ok := w.dirs[wd]; ok {
		delete(w.dirs, wd)
		if w.byDir[dir] == wd {
			delete(w.byDir, dir)
		}
	}
}

// dirOf returns the folder of a watch descriptor.
func (w *watcher) dirOf(wd int32) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dirs[wd]
}

// read blocks until events arrive or the watcher is closed.
func (w *watcher) read(buf []byte) ([]inotifyEvent, error) {
	n, err := w.f.Read(buf)
	if err != nil {
		return nil, err
	}
	return parseInotifyEvents(buf[:n]), nil
}

func (w *watcher) close() error { return w.f.Close() }

// parseInotifyEvents decodes struct inotify_event records.
func parseInotifyEvents(b []byte) []inotifyEvent {
	var evs []inotifyEvent
	for len(b) >= syscall.SizeofInotifyEvent {
		wd := int32(binary.NativeEndian.Uint32(b[0:4]))
		mask := binary.NativeEndian.Uint32(b[4:8])
		nameLen := int(binary.NativeEndian.Uint32(b[12:16]))
		end := syscall.SizeofInotifyEvent + nameLen
		if end > len(b) {
			break
		}
		name := strings.TrimRight(string(b[syscall.SizeofInotifyEvent:end]), "\x00")
		evs = append(evs, inotifyEvent{wd: wd, mask: mask, name: name})
		b = b[end:]
	}
	return evs
}

// podmanExitDir is where conmon writes a file named after a container when
// it exits (rootful podman's default tmpdir).
const podmanExitDir = "/run/libpod/exits"

// oomKernelRE finds the container of an "oom-kill:" kernel record: its
// memory cgroup is libpod-<id> (cgroupfs) or libpod-<id>.scope (systemd).
var oomKernelRE = regexp.MustCompile(`libpod-(?:conmon-)?([0-9a-f]{64})`)

// parseKmsgOOM reads one /dev/kmsg record ("prio,seq,usec,flags;text"). It
// returns the container whose process the kernel killed for lack of
// memory, and when (microseconds since boot).
func parseKmsgOOM(rec string) (id string, usec int64, ok bool) {
	head, text, found := strings.Cut(rec, ";")
	if !found {
		return "", 0, false
	}
	text, _, _ = strings.Cut(text, "\n")
	if !strings.HasPrefix(text, "oom-kill:") {
		return "", 0, false
	}
	// Prefer the task's own cgroup over the cgroup that hit its limit.
	part := text
	if i := strings.Index(text, "task_memcg="); i >= 0 {
		part = text[i:]
	}
	m := oomKernelRE.FindStringSubmatch(part)
	if m == nil {
		return "", 0, false
	}
	f := strings.Split(head, ",")
	if len(f) >= 3 {
		usec, _ = strconv.ParseInt(f[2], 10, 64)
	}
	return m[1], usec, true
}

// oomWatcher follows the kernel log for OOM kills in app containers.
// Podman's .State.OOMKilled stays false on cgroup v1 hybrid hosts (seen on
// podman 4.3.1 with runc: exit 137, kernel "oom-kill" record, OOMKilled
// false), so the kernel's own record is the evidence. Reading /dev/kmsg
// needs root (or CAP_SYSLOG); without it only .State.OOMKilled counts.
type oomWatcher struct {
	mu    sync.Mutex
	fd    int // -1: unavailable
	boot  time.Time
	kills map[string][]time.Time
}

const maxKillsKept = 64

func openOOMWatcher() (*oomWatcher, error) {
	w := &oomWatcher{fd: -1, kills: map[string][]time.Time{}, boot: bootTime()}
	fd, err := syscall.Open("/dev/kmsg", syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return w, err
	}
	w.fd = fd
	w.drain() // the ring buffer's past: OOMs while the agent was down
	return w, nil
}

// drain reads every record available now (never blocks).
func (w *oomWatcher) drain() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fd < 0 {
		return
	}
	buf := make([]byte, 8192)
	for {
		n, err := syscall.Read(w.fd, buf)
		if errors.Is(err, syscall.EPIPE) {
			continue // records were overwritten before we read them
		}
		if err != nil || n <= 0 {
			return // EAGAIN: nothing more
		}
		if id, usec, ok := parseKmsgOOM(string(buf[:n])); ok {
			at := w.boot.Add(time.Duration(usec) * time.Microsecond)
			ks := append(w.kills[id], at)
			if len(ks) > maxKillsKept {
				ks = ks[len(ks)-maxKillsKept:]
			}
			w.kills[id] = ks
		}
	}
}

// record adds a kill (tests).
func (w *oomWatcher) record(id string, at time.Time) {
	w.mu.Lock()
	w.kills[id] = append(w.kills[id], at)
	w.mu.Unlock()
}

// killsOf returns the OOM kills seen in a container.
func (w *oomWatcher) killsOf(id string) []time.Time {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Time(nil), w.kills[id]...)
}

// keepOnly forgets containers that no longer exist.
func (w *oomWatcher) keepOnly(ids map[string]bool) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for id := range w.kills {
		if !ids[id] {
			delete(w.kills, id)
		}
	}
}

func (w *oomWatcher) close() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fd >= 0 {
		syscall.Close(w.fd)
		w.fd = -1
	}
}

// bootTime is when the kernel's clock started (kmsg times count from it).
func bootTime() time.Time {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return time.Time{}
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return time.Time{}
	}
	secs, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return time.Time{}
	}
	return time.Now().Add(-time.Duration(secs * float64(time.Second)))
}

// statfsBytes returns the size, the free bytes and the bytes available
// to unprivileged writers of the filesystem holding path.
func statfsBytes(path string) (total, free, avail int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, 0, err
	}
	bs := int64(st.Bsize)
	return int64(st.Blocks) * bs, int64(st.Bfree) * bs, int64(st.Bavail) * bs, nil
}

// fileInode returns the inode number of fi (0 if unknown).
func fileInode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
