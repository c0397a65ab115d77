package worker

// Runtime log collection: what apps write to stdout and stderr reaches the
// control plane as runtime_log batches, with cursors that survive an agent
// restart (no duplicates, no gaps).
//
// Two designs, chosen with WH_RUNTIME_LOGS:
//
//   - "files" (default): conmon writes every container's output to a file
//     in the CRI format (podman's k8s-file log driver, the default here).
//     The collector keeps each file open, reads what was appended since its
//     cursor (inode + byte offset), and is woken by inotify when a file
//     grows, so a line reaches the control plane ~0.1 s after it was
//     written and an idle worker runs nothing at all for logs. Every
//     LogInterval it also compares sizes with fstat (no process started),
//     in case an event was missed. The container list is refreshed when
//     podman's containers.json changes (a container was created or
//     removed) and on every health check. Containers with another log
//     driver (journald) fall back to `podman logs` polling.
//   - "podman-logs": the seed's literal design, kept for comparison:
//     every LogInterval one `podman ps` and one `podman logs --timestamps
//     --since <cursor>` per container. Each call costs 10–20 ms of CPU, so
//     50 apps cost a visible share of a core; stdout and stderr arrive
//     merged (reported as stdout).
//
// Lines of all apps are sent in one message per pass (split above 256
// KiB); each line is valid UTF-8, without NUL, at most 16 KiB. A cursor
// moves only after its lines were handed to the transport.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// Runtime log designs (WH_RUNTIME_LOGS).
const (
	LogModeFiles      = "files"
	LogModePodmanLogs = "podman-logs"
	RuntimeLogModeEnv = "WH_RUNTIME_LOGS"
)

const (
	logCursorFile  = "log-cursors.json"
	maxBatchBytes  = 256 << 10 // one runtime_log message
	maxReadPerPass = 256 << 10 // per file per pass
	// A container without a cursor (first sight) starts at most this far
	// before the end of its log.
	firstReadMax = 1 << 20
	// logFlushDelay gathers the writes of a burst into one message.
	logFlushDelay = 100 * time.Millisecond
	// lineOverhead is the JSON of a line without its app id and message.
	lineOverhead = len(`{"app_id":"","stream":"stdout","at":"2006-01-02T15:04:05.999999999+07:00","msg":},`)
	// podmanLogsTail bounds the first `podman logs` of a container.
	podmanLogsTail = "1000"
)

// logCursor is where the collector is in one container's log.
type logCursor struct {
	AppID  string `json:"app_id"`
	Path   string `json:"path,omitempty"`
	Inode  uint64 `json:"inode,omitempty"`
	Offset int64  `json:"offset,omitempty"`
	// Since is the time of the last line sent (both designs keep it; the
	// podman-logs design resumes from it, and the files design uses it
	// to skip lines already sent when it has no offset).
	Since time.Time `json:"since,omitzero"`
	// Partial holds, per stream, the start of a line that conmon split
	// into P records and whose final F record has not been read yet.
	Partial map[string]*partialLine `json:"partial,omitempty"`
}

type partialLine struct {
	At  time.Time `json:"at"`
	Msg []byte    `json:"msg"`
}

func (c logCursor) clone() logCursor {
	if c.Partial != nil {
		p := make(map[string]*partialLine, len(c.Partial))
		for k, v := range c.Partial {
			cp := *v
			cp.Msg = append([]byte(nil), v.Msg...)
			p[k] = &cp
		}
		c.Partial = p
	}
	return c
}

type cursorFile struct {
	Version int                   `json:"version"`
	Cursors map[string]*logCursor `json:"cursors"`
}

// loadCursors reads the cursor file; a missing or unreadable file starts
// empty (logged), never blocks the agent.
func loadCursors(path string) (map[string]*logCursor, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]*logCursor{}, nil
	}
	if err != nil {
		return map[string]*logCursor{}, err
	}
	var f cursorFile
	if err := json.Unmarshal(b, &f); err != nil {
		return map[string]*logCursor{}, err
	}
	if f.Cursors == nil {
		f.Cursors = map[string]*logCursor{}
	}
	return f.Cursors, nil
}

// saveCursors writes the cursor file atomically.
func saveCursors(path string, cursors map[string]*logCursor) error {
	b, err := json.Marshal(cursorFile{Version: 1, Cursors: cursors})
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// tailState is one container followed by the collector.
type tailState struct {
	id, name string
	cur      logCursor // committed: its lines were sent
	driver   string    // log driver; "" until known
	f        *os.File  // files design: the open log file
	dir      string    // watched folder
	running  bool
	exitedAt int64 // podman-logs design: last exit seen (unix s)
	drained  int64 // podman-logs design: exit whose logs were read
	listed   bool  // in the last container list
	// skipUntil: lines up to this time were sent already (a cursor of the
	// podman-logs design read by the files design: a time, no offset).
	skipUntil time.Time
}

// tailDelta is what one pass read from a container, applied only once
// its lines were sent.
type tailDelta struct {
	t     *tailState
	lines []wsproto.RuntimeLogLine
	cur   logCursor
	newF  *os.File // the file was replaced (rotation): switch to this one
	drop  bool     // the container is gone and its log was read to the end
	more  bool     // the per-pass budget ran out
}

// logCollector runs in its own goroutine (run); other goroutines only
// call offerList, onEvent and overflow.
type logCollector struct {
	a        *Agent
	m        *monitor
	log      *slog.Logger
	mode     string
	path     string
	interval time.Duration

	mu        sync.Mutex
	dirty     map[string]bool   // container ids whose file changed
	dirIDs    map[string]string // watched folder → container id
	offered   []managedCtr
	offeredAt time.Time // zero: no list offered since the last pass
	relist    bool
	kick      chan struct{}

	// Owned by run.
	tails     map[string]*tailState
	cursors   map[string]*logCursor // loaded, not yet matched to a container
	listedAt  time.Time
	root      string // podman's containers folder (containers.json)
	rootWD    int32
	saveDirty bool
}

func newLogCollector(a *Agent, m *monitor) *logCollector {
	mode := os.Getenv(RuntimeLogModeEnv)
	switch mode {
	case LogModePodmanLogs:
	default:
		mode = LogModeFiles
	}
	log := a.log.With("part", "runtime-logs")
	return &logCollector{a: a, m: m, log: log, mode: mode, path: filepath.Join(a.cfg.DataDir, logCursorFile),
		interval: a.cfg.LogInterval, dirty: map[string]bool{}, dirIDs: map[string]string{},
		kick: make(chan struct{}, 1), tails: map[string]*tailState{}, rootWD: -1}
}

func (lc *logCollector) poke() {
	select {
	case lc.kick <- struct{}{}:
	default:
	}
}

// offerList hands the collector a fresh list of managed containers.
func (lc *logCollector) offerList(list []managedCtr) {
	lc.mu.Lock()
	lc.offered, lc.offeredAt = list, time.Now()
	lc.mu.Unlock()
}

// onEvent marks a container's log as changed (inotify).
func (lc *logCollector) onEvent(ev inotifyEvent) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if ev.wd == lc.rootWD {
		if ev.name == "containers.json" {
			lc.relist = true
			lc.pokeLocked()
		}
		return
	}
	if lc.m.w == nil {
		return
	}
	if id, ok := lc.dirIDs[lc.m.w.dirOf(ev.wd)]; ok {
		lc.dirty[id] = true
		lc.pokeLocked()
	}
}

func (lc *logCollector) pokeLocked() {
	select {
	case lc.kick <- struct{}{}:
	default:
	}
}

// overflow: events were lost; look at everything.
func (lc *logCollector) overflow() {
	lc.mu.Lock()
	lc.relist = true
	for _, id := range lc.dirIDs {
		lc.dirty[id] = true
	}
	lc.mu.Unlock()
	lc.poke()
}

// start loads the cursors (re-attach after an agent restart) and watches
// podman's containers folder.
func (lc *logCollector) start(ctx context.Context) {
	cursors, err := loadCursors(lc.path)
	if err != nil {
		lc.log.Warn("log cursors unreadable; starting without them", "path", lc.path, "err", err)
	}
	lc.cursors = cursors
	if lc.mode == LogModeFiles {
		lc.watchRoot(ctx)
	}
	lc.log.Info("runtime log collection", "design", lc.mode, "interval", lc.interval, "cursors", len(cursors))
}

// run collects until ctx ends, then saves the cursors.
func (lc *logCollector) run(ctx context.Context) {
	lc.start(ctx)
	defer lc.shutdown()
	tick := time.NewTicker(lc.interval)
	defer tick.Stop()
	lc.pass(ctx, true, true)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			lc.pass(ctx, true, lc.mode == LogModePodmanLogs)
		case <-lc.kick:
			select {
			case <-ctx.Done():
				return
			case <-time.After(logFlushDelay):
			}
			lc.pass(ctx, false, false)
		}
	}
}

func (lc *logCollector) shutdown() {
	if lc.saveDirty {
		lc.save()
	}
	for _, t := range lc.tails {
		if t.f != nil {
			t.f.Close()
		}
	}
}

func (lc *logCollector) save() {
	all := make(map[string]*logCursor, len(lc.tails)+len(lc.cursors))
	for id, c := range lc.cursors {
		all[id] = c
	}
	for id, t := range lc.tails {
		c := t.cur
		all[id] = &c
	}
	if err := saveCursors(lc.path, all); err != nil {
		lc.log.Warn("save log cursors", "err", err)
		return
	}
	lc.saveDirty = false
}

// watchRoot finds podman's containers folder (containers.json changes
// when a container is created or removed) and watches it.
func (lc *logCollector) watchRoot(ctx context.Context) {
	if lc.m.w == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, podmanCallTimeout)
	defer cancel()
	out, err := lc.a.run.Run(ctx, "podman", "info", "--format", "{{.Store.GraphRoot}}|{{.Store.GraphDriverName}}")
	if err != nil {
		lc.log.Debug("podman info", "err", err)
		return
	}
	root, driver, ok := strings.Cut(strings.TrimSpace(string(out)), "|")
	if !ok || root == "" || driver == "" {
		return
	}
	dir := filepath.Join(root, driver+"-containers")
	wd, err := lc.m.w.watchDir(dir, syscall.IN_MOVED_TO|syscall.IN_CREATE|syscall.IN_CLOSE_WRITE)
	if err != nil {
		lc.log.Debug("containers folder not watched", "dir", dir, "err", err)
		return
	}
	lc.mu.Lock()
	lc.root, lc.rootWD = dir, wd
	lc.mu.Unlock()
}

// pass reads what is new and sends it. all: every container (tick), else
// only those inotify marked. list: refresh the container list with podman
// first (the podman-logs design does it every tick, as the seed did).
func (lc *logCollector) pass(ctx context.Context, all, list bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*podmanCallTimeout)
	defer cancel()
	lc.mu.Lock()
	if lc.relist {
		list, lc.relist = true, false
	}
	offered, offeredAt := lc.offered, lc.offeredAt
	lc.offered, lc.offeredAt = nil, time.Time{}
	dirty := lc.dirty
	lc.dirty = map[string]bool{}
	lc.mu.Unlock()

	if list {
		if l, err := lc.m.listManaged(ctx); err == nil {
			// listManaged offered it too; take it from there.
			lc.mu.Lock()
			offered, offeredAt = lc.offered, lc.offeredAt
			lc.offered, lc.offeredAt = nil, time.Time{}
			lc.mu.Unlock()
			if offeredAt.IsZero() {
				offered, offeredAt = l, time.Now()
			}
		} else {
			lc.log.Debug("list containers", "err", err)
		}
	}
	if !offeredAt.IsZero() && !offeredAt.Before(lc.listedAt) {
		lc.applyList(ctx, offered)
		lc.listedAt = offeredAt
	}

	var deltas []tailDelta
	ids := make([]string, 0, len(lc.tails))
	for id := range lc.tails {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		t := lc.tails[id]
		var d tailDelta
		var err error
		switch {
		case t.driver == "":
			continue // log config not known yet
		case t.driver == "k8s-file" && lc.mode == LogModeFiles:
			if !all && !dirty[id] && t.f != nil && t.listed {
				continue
			}
			d, err = lc.readFile(t)
		case t.driver == "none" || t.driver == "passthrough":
			continue
		default:
			if !all || !lc.podmanDue(t) {
				continue
			}
			d, err = lc.readPodman(ctx, t)
		}
		if err != nil {
			lc.log.Debug("read runtime log", "container", t.name, "err", err)
			continue
		}
		deltas = append(deltas, d)
	}
	lc.send(deltas)
	if lc.saveDirty {
		lc.save()
	}
}

// applyList starts following new containers and marks the ones that are
// gone.
func (lc *logCollector) applyList(ctx context.Context, list []managedCtr) {
	listed := map[string]bool{}
	var fresh []string
	for i := range list {
		c := &list[i]
		if c.AppID() == "" {
			continue
		}
		listed[c.ID] = true
		t := lc.tails[c.ID]
		if t == nil {
			t = &tailState{id: c.ID, name: c.Name()}
			if cur, ok := lc.cursors[c.ID]; ok {
				t.cur = *cur
				delete(lc.cursors, c.ID)
			}
			t.cur.AppID = c.AppID()
			lc.tails[c.ID] = t
		}
		t.listed, t.running = true, isRunningState(c.State)
		if c.ExitedAt > t.exitedAt {
			t.exitedAt = c.ExitedAt
		}
		if t.driver == "" {
			fresh = append(fresh, c.ID)
		}
	}
	if len(fresh) > 0 {
		lc.learnLogConfig(ctx, fresh)
	}
	for id, t := range lc.tails {
		if listed[id] {
			continue
		}
		t.listed = false
		if t.f == nil && (lc.mode == LogModePodmanLogs || t.driver != "k8s-file") {
			// Gone, and nothing left to read from a file.
			lc.unwatch(t)
			delete(lc.tails, id)
			lc.saveDirty = true
		}
	}
	// Cursors of containers that no longer exist.
	if len(lc.cursors) > 0 {
		for id := range lc.cursors {
			delete(lc.cursors, id)
		}
		lc.saveDirty = true
	}
}

// learnLogConfig reads the log driver and path of new containers (one
// podman call for all of them) and opens their files.
func (lc *logCollector) learnLogConfig(ctx context.Context, ids []string) {
	if lc.mode == LogModePodmanLogs {
		for _, id := range ids {
			lc.tails[id].driver = "podman"
		}
		return
	}
	argv := append([]string{"podman", "container", "inspect", "--format", "{{.Id}}|{{.HostConfig.LogConfig.Type}}|{{.HostConfig.LogConfig.Path}}"}, ids...)
	out, err := lc.a.run.Run(ctx, argv...)
	if err != nil && !IsNotFound(err) {
		lc.log.Debug("log config", "err", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.SplitN(strings.TrimSpace(sc.Text()), "|", 3)
		if len(f) != 3 {
			continue
		}
		t := lc.tails[f[0]]
		if t == nil {
			continue
		}
		t.driver = f[1]
		if t.driver == "" {
			t.driver = "k8s-file"
		}
		if t.driver == "k8s-file" && f[2] != "" {
			if t.cur.Path != f[2] {
				t.cur.Path, t.cur.Inode, t.cur.Offset = f[2], 0, 0
			}
			lc.watchFile(t)
			lc.openFile(t)
		}
	}
}

func (lc *logCollector) watchFile(t *tailState) {
	if lc.m.w == nil || t.dir != "" {
		return
	}
	dir := filepath.Dir(t.cur.Path)
	if _, err := lc.m.w.watchDir(dir, syscall.IN_MODIFY|syscall.IN_CREATE|syscall.IN_MOVED_TO|syscall.IN_CLOSE_WRITE); err != nil {
		lc.log.Debug("log folder not watched; read on ticks", "dir", dir, "err", err)
		return
	}
	t.dir = dir
	lc.mu.Lock()
	lc.dirIDs[dir] = t.id
	lc.mu.Unlock()
}

func (lc *logCollector) unwatch(t *tailState) {
	if t.dir == "" {
		return
	}
	lc.mu.Lock()
	delete(lc.dirIDs, t.dir)
	lc.mu.Unlock()
	if lc.m.w != nil {
		lc.m.w.unwatchDir(t.dir)
	}
	t.dir = ""
}

// openFile opens a container's log file and places its cursor: the saved
// one if it is for this very file, else the start (a new container, or a
// file replaced while the agent was down), at most firstReadMax before the
// end.
func (lc *logCollector) openFile(t *tailState) {
	if t.f != nil || t.cur.Path == "" {
		return
	}
	f, err := os.Open(t.cur.Path)
	if err != nil {
		return // not there yet: conmon creates it when the container starts
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return
	}
	ino, size := fileInode(fi), fi.Size()
	switch {
	case t.cur.Inode == ino && t.cur.Offset <= size:
		// Resume exactly where we were.
	default:
		if t.cur.Inode != 0 && t.cur.Inode != ino {
			lc.log.Info("log file was replaced while not followed; reading the new one from its start", "container", t.name)
		}
		if t.cur.Inode == 0 && !t.cur.Since.IsZero() {
			t.skipUntil = t.cur.Since
		}
		t.cur.Inode, t.cur.Offset, t.cur.Partial = ino, 0, nil
		if size > firstReadMax {
			t.cur.Offset = lineStartAfter(f, size-firstReadMax)
		}
		lc.saveDirty = true
	}
	t.f = f
}

// lineStartAfter returns the offset just after the first newline at or
// after off (or off's file size if none).
func lineStartAfter(f *os.File, off int64) int64 {
	buf := make([]byte, 32<<10)
	for {
		n, err := f.ReadAt(buf, off)
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			return off + int64(i) + 1
		}
		off += int64(n)
		if err != nil {
			return off
		}
	}
}

// readFile reads what was appended to a container's log file since its
// cursor, following a replaced file (log rotation) and draining the log
// of a removed container before forgetting it.
func (lc *logCollector) readFile(t *tailState) (tailDelta, error) {
	d := tailDelta{t: t, cur: t.cur.clone()}
	if t.f == nil {
		lc.openFile(t)
		if t.f == nil {
			d.drop = !t.listed
			return d, nil
		}
		d.cur = t.cur.clone()
	}
	budget := maxReadPerPass
	f := t.f
	for {
		fi, err := f.Stat()
		if err != nil {
			return d, err
		}
		size := fi.Size()
		if size < d.cur.Offset { // truncated in place
			d.cur.Offset, d.cur.Partial = 0, nil
		}
		if size > d.cur.Offset {
			n := min(size-d.cur.Offset, int64(budget))
			buf := make([]byte, n)
			m, err := f.ReadAt(buf, d.cur.Offset)
			if err != nil && err != io.EOF {
				return d, err
			}
			// Only a record longer than a whole pass's budget is cut.
			limited := int64(m) == int64(budget) && int64(m) < size-d.cur.Offset
			used := consumeCRI(buf[:m], m == maxReadPerPass, t.skipUntil, &d.cur, &d.lines)
			d.cur.Offset += int64(used)
			budget -= used
			if d.cur.Offset < size {
				if budget <= 0 || used == 0 {
					// Out of budget (read on next pass, at once), or
					// a record still being written (its newline will
					// come with an event).
					d.more = budget <= 0 || limited
					return d, nil
				}
				continue
			}
		}
		// At the end of this file: has the path been given a new file?
		pfi, err := os.Stat(t.cur.Path)
		switch {
		case err == nil && fileInode(pfi) != d.cur.Inode:
			nf, err := os.Open(t.cur.Path)
			if err != nil {
				return d, nil
			}
			if d.newF != nil {
				d.newF.Close()
			}
			d.newF, f = nf, nf
			d.cur.Inode, d.cur.Offset = fileInode(pfi), 0
			continue
		case err != nil && !t.listed:
			d.drop = true // removed, and read to the end
		}
		return d, nil
	}
}

// consumeCRI parses the complete records at the start of buf, appending
// finished lines; it returns how many bytes it consumed. An incomplete
// last record is left for the next pass unless force (the buffer is the
// whole budget and holds no complete record: a record that long is cut).
// Lines not after skipUntil are dropped (sent before).
func consumeCRI(buf []byte, force bool, skipUntil time.Time, cur *logCursor, lines *[]wsproto.RuntimeLogLine) int {
	used := 0
	for used < len(buf) {
		rest := buf[used:]
		i := bytes.IndexByte(rest, '\n')
		rec := rest
		if i < 0 {
			if !force || used > 0 {
				break
			}
			used = len(buf)
		} else {
			rec = rest[:i]
			used += i + 1
		}
		r, ok := parseCRILine(rec)
		if !ok {
			continue
		}
		p := cur.Partial[r.Stream]
		if r.Partial {
			if p == nil {
				if cur.Partial == nil {
					cur.Partial = map[string]*partialLine{}
				}
				p = &partialLine{At: r.At}
				cur.Partial[r.Stream] = p
			}
			if room := maxLogLine + 1 - len(p.Msg); room > 0 {
				p.Msg = append(p.Msg, r.Msg[:min(len(r.Msg), room)]...)
			}
			continue
		}
		at, msg := r.At, r.Msg
		if p != nil {
			at, msg = p.At, append(p.Msg, msg...)
			delete(cur.Partial, r.Stream)
			if len(cur.Partial) == 0 {
				cur.Partial = nil
			}
		}
		if !at.After(skipUntil) {
			continue // sent already (resuming from a time, not an offset)
		}
		*lines = append(*lines, wsproto.RuntimeLogLine{AppID: cur.AppID, Stream: r.Stream, At: at, Msg: sanitizeLogMsg(msg)})
		if at.After(cur.Since) {
			cur.Since = at
		}
	}
	return used
}

// podmanDue reports whether the podman-logs design reads a container this
// tick: running ones, and a stopped one until its last lines were read.
func (lc *logCollector) podmanDue(t *tailState) bool {
	return t.listed && (t.running || t.drained < t.exitedAt || t.exitedAt == 0 && t.cur.Since.IsZero())
}

// readPodman is the seed's design: `podman logs --timestamps --since`.
func (lc *logCollector) readPodman(ctx context.Context, t *tailState) (tailDelta, error) {
	d := tailDelta{t: t, cur: t.cur.clone()}
	started := time.Now().Unix()
	argv := []string{"podman", "logs", "--timestamps"}
	if t.cur.Since.IsZero() {
		argv = append(argv, "--tail", podmanLogsTail)
	} else {
		argv = append(argv, "--since", t.cur.Since.Format(time.RFC3339Nano))
	}
	argv = append(argv, t.id)
	var buf bytes.Buffer
	if err := lc.a.run.Stream(ctx, &buf, argv...); err != nil {
		if IsNotFound(err) {
			d.drop = true
			return d, nil
		}
		return d, err
	}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		at, body, ok := splitPodmanLogLine(sc.Text())
		if !ok || !at.After(d.cur.Since) {
			continue
		}
		d.lines = append(d.lines, wsproto.RuntimeLogLine{AppID: t.cur.AppID, Stream: "stdout", At: at, Msg: sanitizeLogMsg([]byte(body))})
		d.cur.Since = at
	}
	if !t.running && t.exitedAt > 0 && started > t.exitedAt {
		t.drained = t.exitedAt
	}
	return d, nil
}

// send batches the lines of every delta into runtime_log messages of at
// most maxBatchBytes and commits each delta once all its lines went out.
// A failed send leaves the remaining cursors where they were: the lines
// are read again next pass.
func (lc *logCollector) send(deltas []tailDelta) {
	var batch []wsproto.RuntimeLogLine
	var waiting []tailDelta // deltas whose last line is in batch
	size := 0
	failed := false
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		if err := lc.a.emit(wsproto.TypeRuntimeLog, wsproto.RuntimeLogPayload{Lines: batch}); err != nil {
			lc.log.Debug("runtime log not sent; will retry", "lines", len(batch), "err", err)
			return false
		}
		for _, d := range waiting {
			lc.commit(d)
		}
		batch, waiting, size = nil, nil, 0
		return true
	}
	more := false
	for _, d := range deltas {
		if failed {
			lc.abort(d)
			continue
		}
		more = more || d.more
		if len(d.lines) == 0 {
			lc.commit(d)
			continue
		}
		for _, l := range d.lines {
			n := lineOverhead + len(l.AppID) + jsonStringLen(l.Msg)
			if size+n > maxBatchBytes && len(batch) > 0 {
				if !flush() {
					failed = true
					break
				}
			}
			batch = append(batch, l)
			size += n
		}
		if failed {
			lc.abort(d)
			continue
		}
		waiting = append(waiting, d)
	}
	if !failed && !flush() {
		failed = true
	}
	if failed {
		for _, d := range waiting {
			lc.abort(d)
		}
		return
	}
	if more {
		lc.mu.Lock()
		for _, d := range deltas {
			if d.more {
				lc.dirty[d.t.id] = true
			}
		}
		lc.mu.Unlock()
		lc.poke()
	}
}

func (lc *logCollector) commit(d tailDelta) {
	t := d.t
	if !cursorEqual(t.cur, d.cur) {
		lc.saveDirty = true
	}
	t.cur = d.cur
	if d.newF != nil {
		if t.f != nil {
			t.f.Close()
		}
		t.f = d.newF
	}
	if d.drop {
		if t.f != nil {
			t.f.Close()
		}
		lc.unwatch(t)
		delete(lc.tails, t.id)
		lc.saveDirty = true
	}
}

func (lc *logCollector) abort(d tailDelta) {
	if d.newF != nil {
		d.newF.Close()
	}
}

func cursorEqual(a, b logCursor) bool {
	return a.Path == b.Path && a.Inode == b.Inode && a.Offset == b.Offset && a.Since.Equal(b.Since) &&
		len(a.Partial) == 0 && len(b.Partial) == 0 && a.AppID == b.AppID
}
