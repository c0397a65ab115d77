package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// logScene is a files-design collector over a fake podman whose one
// container writes to a log file in a temp folder.
type logScene struct {
	t       *testing.T
	fr      *fakeRunner
	a       *Agent
	lc      *logCollector
	dataDir string
	id      string
	logPath string
	base    time.Time
	n       int
}

func newLogScene(t *testing.T) *logScene {
	s := &logScene{t: t, id: longID("ab12"), base: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s.dataDir = t.TempDir()
	s.logPath = filepath.Join(t.TempDir(), s.id, "userdata", "ctr.log")
	if err := os.MkdirAll(filepath.Dir(s.logPath), 0o700); err != nil {
		t.Fatal(err)
	}
	s.restartAgent()
	return s
}

// restartAgent builds a new agent on the same data dir (as after a crash
// or a restart of the worker agent) and starts its collector.
func (s *logScene) restartAgent() {
	if s.lc != nil {
		s.lc.shutdown()
	}
	s.fr = newFakeRunner()
	s.a = testAgent(s.t, s.fr)
	s.a.cfg.DataDir = s.dataDir
	monitors.Delete(s.a)
	m := s.a.monitor()
	s.lc = m.logs
	s.list(ctr{id: s.id, name: "web", app: "app-web", state: "running", started: s.base})
	s.fr.on("podman container inspect --format", s.id+"|k8s-file|"+s.logPath+"\n", nil)
	s.lc.start(context.Background())
}

func (s *logScene) list(cs ...ctr) { s.fr.on("podman ps -a", psJSON(cs...), nil) }

// write appends CRI records to the log file as conmon does.
func (s *logScene) write(records ...string) {
	s.t.Helper()
	f, err := os.OpenFile(s.logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(records, "")); err != nil {
		s.t.Fatal(err)
	}
}

// rec is one CRI record with a fresh timestamp.
func (s *logScene) rec(stream, tag, msg string) string {
	s.n++
	ts := s.base.Add(time.Duration(s.n) * time.Millisecond).Format(time.RFC3339Nano)
	ts = strings.Replace(ts, "Z", "+00:00", 1)
	return fmt.Sprintf("%s %s %s %s\n", ts, stream, tag, msg)
}

// pass runs one collection pass and returns the lines sent, one slice
// per message.
func (s *logScene) pass() [][]wsproto.RuntimeLogLine {
	s.t.Helper()
	s.lc.pass(context.Background(), true, true)
	var out [][]wsproto.RuntimeLogLine
	for _, p := range ofType[wsproto.RuntimeLogPayload](sent(s.a), wsproto.TypeRuntimeLog) {
		out = append(out, p.Lines)
	}
	return out
}

func msgs(batches [][]wsproto.RuntimeLogLine) []string {
	var out []string
	for _, b := range batches {
		for _, l := range b {
			out = append(out, l.Stream+":"+l.Msg)
		}
	}
	return out
}

func sameStrings(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

func TestLogsFilesTailAndResumeAfterRestart(t *testing.T) {
	s := newLogScene(t)
	s.write(s.rec("stdout", "F", "hello"), s.rec("stderr", "F", "oops"),
		s.rec("stdout", "P", "split "), s.rec("stdout", "F", "line"))
	got := s.pass()
	if len(got) != 1 || !sameStrings(msgs(got), []string{"stdout:hello", "stderr:oops", "stdout:split line"}) {
		t.Fatalf("first pass: %q", msgs(got))
	}
	l := got[0][0]
	if l.AppID != "app-web" || !l.At.Equal(s.base.Add(time.Millisecond)) {
		t.Errorf("line %+v", l)
	}
	if !got[0][2].At.Equal(s.base.Add(3 * time.Millisecond)) {
		t.Errorf("a joined line has the time of its first part: %v", got[0][2].At)
	}
	// Nothing new: nothing sent.
	if got := s.pass(); len(got) != 0 {
		t.Fatalf("resent: %q", msgs(got))
	}
	// A record being written (no newline yet) waits; so does a partial
	// line whose end has not come.
	half := s.rec("stdout", "F", "second half")
	s.write(s.rec("stdout", "F", "one more"), s.rec("stderr", "P", "pending "), half[:20])
	if got := s.pass(); !sameStrings(msgs(got), []string{"stdout:one more"}) {
		t.Fatalf("second pass: %q", msgs(got))
	}
	// The agent restarts: the cursor (offset and pending partial) comes
	// back from the data dir; no line twice, none lost.
	s.restartAgent()
	s.write(half[20:], s.rec("stderr", "F", "done"))
	if got := s.pass(); !sameStrings(msgs(got), []string{"stdout:second half", "stderr:pending done"}) {
		t.Fatalf("after restart: %q", msgs(got))
	}
	s.restartAgent()
	if got := s.pass(); len(got) != 0 {
		t.Fatalf("after a second restart: %q", msgs(got))
	}
}

func TestLogsCursorPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), logCursorFile)
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	in := map[string]*logCursor{
		"c1": {AppID: "app-1", Path: "/x/ctr.log", Inode: 42, Offset: 1234, Since: at,
			Partial: map[string]*partialLine{"stdout": {At: at, Msg: []byte("half a rune \xc3")}}},
		"c2": {AppID: "app-2", Since: at},
	}
	if err := saveCursors(path, in); err != nil {
		t.Fatal(err)
	}
	out, err := loadCursors(path)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(in)
	b, _ := json.Marshal(out)
	if string(a) != string(b) || string(out["c1"].Partial["stdout"].Msg) != "half a rune \xc3" {
		t.Errorf("round trip:\n%s\n%s", a, b)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v %v", fi.Mode(), err)
	}
	// Missing: empty, no error. Corrupt: empty, an error to log.
	if c, err := loadCursors(path + ".none"); err != nil || len(c) != 0 {
		t.Error(c, err)
	}
	os.WriteFile(path, []byte("{broken"), 0o600)
	if c, err := loadCursors(path); err == nil || c == nil {
		t.Error("corrupt file accepted")
	}
}

// conmon rotates a log by writing a new file and renaming it over the
// old one: the rest of the old file is read first, then the new one.
func TestLogsRotation(t *testing.T) {
	s := newLogScene(t)
	s.write(s.rec("stdout", "F", "a"))
	s.pass()
	s.write(s.rec("stdout", "F", "b (last of the old file)"))
	tmp := s.logPath + ".tmp"
	os.WriteFile(tmp, []byte(s.rec("stdout", "F", "c (first of the new file)")), 0o600)
	if err := os.Rename(tmp, s.logPath); err != nil {
		t.Fatal(err)
	}
	if got := s.pass(); !sameStrings(msgs(got), []string{"stdout:b (last of the old file)", "stdout:c (first of the new file)"}) {
		t.Fatalf("%q", msgs(got))
	}
	s.write(s.rec("stdout", "F", "d"))
	if got := s.pass(); !sameStrings(msgs(got), []string{"stdout:d"}) {
		t.Fatalf("%q", msgs(got))
	}
	// Truncated in place: read again from the start.
	os.WriteFile(s.logPath, []byte(s.rec("stdout", "F", "e")), 0o600)
	if got := s.pass(); !sameStrings(msgs(got), []string{"stdout:e"}) {
		t.Fatalf("%q", msgs(got))
	}
}

// A removed container's last lines are still read (the file is open),
// then it is forgotten, cursor included.
func TestLogsRemovedContainerDrained(t *testing.T) {
	s := newLogScene(t)
	s.write(s.rec("stdout", "F", "a"))
	s.pass()
	s.write(s.rec("stdout", "F", "last words"))
	os.RemoveAll(filepath.Dir(filepath.Dir(s.logPath)))
	s.list()
	if got := s.pass(); !sameStrings(msgs(got), []string{"stdout:last words"}) {
		t.Fatalf("%q", msgs(got))
	}
	if len(s.lc.tails) != 0 {
		t.Errorf("still followed: %v", s.lc.tails)
	}
	c, _ := loadCursors(filepath.Join(s.dataDir, logCursorFile))
	if len(c) != 0 {
		t.Errorf("cursor kept: %v", c)
	}
}

// A list that misses a container whose file still exists (a list taken
// before it was created) does not drop it.
func TestLogsStaleListKeepsFollowing(t *testing.T) {
	s := newLogScene(t)
	s.write(s.rec("stdout", "F", "a"))
	s.pass()
	s.list()
	s.write(s.rec("stdout", "F", "b"))
	if got := s.pass(); !sameStrings(msgs(got), []string{"stdout:b"}) {
		t.Fatalf("%q", msgs(got))
	}
	s.list(ctr{id: s.id, name: "web", app: "app-web", state: "running", started: s.base})
	s.write(s.rec("stdout", "F", "c"))
	if got := s.pass(); !sameStrings(msgs(got), []string{"stdout:c"}) {
		t.Fatalf("%q", msgs(got))
	}
}

func TestLogsBatchesAndCaps(t *testing.T) {
	s := newLogScene(t)
	long := strings.Repeat("x", 20<<10)
	var recs []string
	for i := 0; i < 40; i++ {
		recs = append(recs, s.rec("stdout", "F", fmt.Sprintf("%02d %s", i, long)))
	}
	recs = append(recs, s.rec("stdout", "F", "bad \xff\xfe utf8 and \x00 nul"))
	s.write(recs...)
	var lines []wsproto.RuntimeLogLine
	for i := 0; i < 10; i++ {
		batches := s.pass()
		for _, b := range batches {
			data, _ := json.Marshal(wsproto.RuntimeLogPayload{Lines: b})
			if len(data) > maxBatchBytes {
				t.Errorf("a message of %d bytes", len(data))
			}
			lines = append(lines, b...)
		}
	}
	if len(lines) != 41 {
		t.Fatalf("%d lines", len(lines))
	}
	for i, l := range lines[:40] {
		if !strings.HasPrefix(l.Msg, fmt.Sprintf("%02d ", i)) || !strings.HasSuffix(l.Msg, truncatedMark) || len(l.Msg) > maxLogLine+len(truncatedMark) {
			t.Fatalf("line %d: %d bytes", i, len(l.Msg))
		}
	}
	if last := lines[40].Msg; last != "bad \uFFFD utf8 and \uFFFD nul" || !utf8.ValidString(last) {
		t.Errorf("%q", last)
	}
}

// Lines that could not be handed to the transport are read again.
func TestLogsSendFailureKeepsCursor(t *testing.T) {
	s := newLogScene(t)
	ws := s.a.ws
	s.a.ws = nil // "not connected"
	s.write(s.rec("stdout", "F", "a"), s.rec("stdout", "F", "b"))
	s.lc.pass(context.Background(), true, true)
	s.a.ws = ws
	if got := s.pass(); !sameStrings(msgs(got), []string{"stdout:a", "stdout:b"}) {
		t.Fatalf("%q", msgs(got))
	}
	if got := s.pass(); len(got) != 0 {
		t.Fatalf("twice: %q", msgs(got))
	}
}

// A container seen for the first time with a big log starts near its end,
// at a line boundary.
func TestLogsFirstSightOfABigLog(t *testing.T) {
	s := newLogScene(t)
	s.lc.shutdown()
	var b strings.Builder
	for b.Len() < 3*firstReadMax {
		b.WriteString(s.rec("stdout", "F", strings.Repeat("y", 1000)))
	}
	os.WriteFile(s.logPath, []byte(b.String()), 0o600)
	s.restartAgent()
	s.write(s.rec("stdout", "F", "newest"))
	var lines []string
	for i := 0; i < 10; i++ {
		lines = append(lines, msgs(s.pass())...)
	}
	if len(lines) == 0 || lines[len(lines)-1] != "stdout:newest" || len(lines) > firstReadMax/1000+2 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines[:len(lines)-1] {
		if l != "stdout:"+strings.Repeat("y", 1000) {
			t.Fatalf("started mid-line: %q", l[:40])
		}
	}
}

// Unlabelled containers are not followed: the control plane accepts lines
// only for its apps.
func TestLogsOnlyApps(t *testing.T) {
	s := newLogScene(t)
	s.list(ctr{id: s.id, name: "web", app: "", state: "running", started: s.base})
	s.write(s.rec("stdout", "F", "a"))
	if got := s.pass(); len(got) != 0 {
		t.Fatalf("%q", msgs(got))
	}
}

// Only containers marked by inotify are read between ticks.
func TestLogsDirtyOnly(t *testing.T) {
	s := newLogScene(t)
	s.write(s.rec("stdout", "F", "a"))
	s.pass()
	s.write(s.rec("stdout", "F", "b"))
	s.lc.pass(context.Background(), false, false)
	if got := sent(s.a); len(got) != 0 {
		t.Fatalf("read a file nobody marked: %+v", got)
	}
	s.lc.mu.Lock()
	s.lc.dirty[s.id] = true
	s.lc.mu.Unlock()
	s.lc.pass(context.Background(), false, false)
	if got := ofType[wsproto.RuntimeLogPayload](sent(s.a), wsproto.TypeRuntimeLog); len(got) != 1 || got[0].Lines[0].Msg != "b" {
		t.Fatalf("%+v", got)
	}
}

// The seed's design: one `podman logs --since <cursor>` per container and
// tick, resuming from the last line's time.
func TestLogsPodmanLogsDesign(t *testing.T) {
	t.Setenv(RuntimeLogModeEnv, LogModePodmanLogs)
	fr := newFakeRunner()
	a := testAgent(t, fr)
	lc := a.monitor().logs
	if lc.mode != LogModePodmanLogs {
		t.Fatal(lc.mode)
	}
	id := longID("p1")
	fr.on("podman ps -a", psJSON(ctr{id: id, name: "web", app: "app-web", state: "running", started: time.Now()}), nil)
	fr.on("podman logs --timestamps --tail 1000 "+id, "2026-11-27T16:35:58.484835594Z one\n2026-11-27T16:36:00.547402667Z two\n", nil)
	lc.start(context.Background())
	lc.pass(context.Background(), true, true)
	got := ofType[wsproto.RuntimeLogPayload](sent(a), wsproto.TypeRuntimeLog)
	if len(got) != 1 || len(got[0].Lines) != 2 || got[0].Lines[1].Msg != "two" || got[0].Lines[1].AppID != "app-web" {
		t.Fatalf("%+v", got)
	}
	// podman repeats the line at the cursor; it is not sent again.
	fr.on("podman logs --timestamps --since 2026-11-27T16:36:00.547402667Z "+id, "2026-11-27T16:36:00.547402667Z two\n2026-11-27T16:36:02.5Z three\n", nil)
	before := len(fr.commands())
	lc.pass(context.Background(), true, true)
	got = ofType[wsproto.RuntimeLogPayload](sent(a), wsproto.TypeRuntimeLog)
	if len(got) != 1 || len(got[0].Lines) != 1 || got[0].Lines[0].Msg != "three" {
		t.Fatalf("%+v", got)
	}
	// Per tick: one ps, one logs per container.
	cmds := fr.commands()[before:]
	if len(cmds) != 2 || !strings.HasPrefix(cmds[0], "podman ps -a") || !strings.HasPrefix(cmds[1], "podman logs") {
		t.Errorf("%q", cmds)
	}
	lc.shutdown()
	c, _ := loadCursors(filepath.Join(a.cfg.DataDir, logCursorFile))
	if c[id] == nil || !c[id].Since.Equal(time.Date(2026, 11, 27, 16, 36, 2, 5e8, time.UTC)) {
		t.Errorf("cursor %+v", c[id])
	}
}

func TestConsumeCRI(t *testing.T) {
	var cur logCursor
	var lines []wsproto.RuntimeLogLine
	buf := []byte("2026-01-01T00:00:00Z stdout P a\n" +
		"garbage line\n" +
		"2026-01-01T00:00:01Z stderr F e\n" +
		"2026-01-01T00:00:02Z stdout F b\n" +
		"2026-01-01T00:00:03Z stdout F incomplete")
	n := consumeCRI(buf, false, time.Time{}, &cur, &lines)
	if n != len(buf)-len("2026-01-01T00:00:03Z stdout F incomplete") {
		t.Errorf("consumed %d", n)
	}
	if len(lines) != 2 || lines[0].Msg != "e" || lines[0].Stream != "stderr" || lines[1].Msg != "ab" || lines[1].At.Second() != 0 {
		t.Errorf("%+v", lines)
	}
	if cur.Partial != nil || cur.Since.Second() != 1 {
		t.Errorf("%+v", cur)
	}
	// A record longer than the budget is cut when forced.
	lines = nil
	long := []byte("2026-01-01T00:00:05Z stdout F " + strings.Repeat("z", 100))
	if n := consumeCRI(long, true, time.Time{}, &cur, &lines); n != len(long) || len(lines) != 1 {
		t.Errorf("%d %+v", n, lines)
	}
}

// The real inotify plumbing: a write to a watched folder is an event.
func TestWatcherSeesWrites(t *testing.T) {
	w, err := newWatcher()
	if err != nil {
		t.Skip("no inotify:", err)
	}
	dir := t.TempDir()
	wd, err := w.watchDir(dir, syscall.IN_MODIFY|syscall.IN_CREATE)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := w.watchDir(dir, syscall.IN_MODIFY); again != wd {
		t.Error("watched twice")
	}
	os.WriteFile(filepath.Join(dir, "ctr.log"), []byte("x\n"), 0o600)
	evs, err := w.read(make([]byte, 4096))
	if err != nil || len(evs) == 0 || evs[0].wd != wd || evs[0].name != "ctr.log" || w.dirOf(wd) != dir {
		t.Fatalf("%+v %v", evs, err)
	}
	// Closing ends a blocked read.
	done := make(chan error, 1)
	go func() {
		_, err := w.read(make([]byte, 4096))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	w.close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("read after close")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("close did not end the read")
	}
}
