package logstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// appID returns a valid app id for n.
func appID(n int) string {
	return fmt.Sprintf("app_%026d", n)[:4] + strings.Map(func(r rune) rune { return 'a' + (r-'0')%26 }, fmt.Sprintf("%026d", n))
}

func open(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// appendN appends n lines "<prefix> i" in batches of batch, returning them
// with their ids.
func appendN(t testing.TB, s *Store, app, prefix string, n, batch int) []Line {
	t.Helper()
	var all []Line
	for i := 0; i < n; i += batch {
		var ls []Line
		for k := i; k < min(n, i+batch); k++ {
			stream := "stdout"
			if k%3 == 0 {
				stream = "stderr"
			}
			ls = append(ls, Line{At: t0.Add(time.Duration(k) * time.Second), Stream: stream, Msg: fmt.Sprintf("%s %d", prefix, k)})
		}
		must(t, s.Append(app, ls))
		all = append(all, ls...)
	}
	return all
}

func msgs(ls []Line) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Msg
	}
	return out
}

func sameLines(t testing.TB, what string, got, want []Line) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d lines %q, want %d %q", what, len(got), msgs(got), len(want), msgs(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: line %d = %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

func TestAppendList(t *testing.T) {
	// Segments of ~10 lines, so every listing crosses boundaries.
	s := open(t, t.TempDir(), Options{SegmentBytes: 400, MaxAppBytes: 1 << 30})
	web, api := appID(1), appID(2)
	all := appendN(t, s, web, "web", 95, 7)
	other := appendN(t, s, api, "api", 5, 5)
	for i, l := range all {
		if l.ID <= 0 || (i > 0 && l.ID <= all[i-1].ID) {
			t.Fatalf("ids not increasing: %d after %d", l.ID, all[max(0, i-1)].ID)
		}
	}
	if other[0].ID != 1 {
		t.Fatalf("an app's first id = %d, want 1 (ids are per app)", other[0].ID)
	}
	segs, _ := os.ReadDir(filepath.Join(s.Dir(), web))
	if len(segs) < 5 {
		t.Fatalf("%d segments, want several", len(segs))
	}
	for _, n := range []int{1, 3, 10, 11, 50, 95, 200} {
		got, err := s.List(web, 0, n)
		must(t, err)
		sameLines(t, fmt.Sprintf("last %d", n), got, all[max(0, len(all)-n):])
	}
	for i := range all {
		for _, limit := range []int{1, 4, 13, 1000} {
			got, err := s.List(web, all[i].ID, limit)
			must(t, err)
			sameLines(t, fmt.Sprintf("after line %d, limit %d", i, limit), got, all[i+1:min(len(all), i+1+limit)])
		}
	}
	// A made-up cursor inside a record: the lines that start after it.
	got, err := s.List(web, all[10].ID+3, 2)
	must(t, err)
	sameLines(t, "after a made-up cursor", got, all[11:13])
	// A cursor beyond the end is not one of this log's: the last lines.
	got, err = s.List(web, all[len(all)-1].ID+1<<40, 3)
	must(t, err)
	sameLines(t, "after a stale cursor", got, all[len(all)-3:])
	// Default limit, an app with no logs.
	got, _ = s.List(web, 0, 0)
	if len(got) != DefaultLimit && len(got) != len(all) {
		t.Fatalf("default limit: %d lines", len(got))
	}
	got, err = s.List(appID(3), 0, 10)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("List(no logs) = %#v, %v; want empty, not nil", got, err)
	}
}

func TestNormalise(t *testing.T) {
	now := t0.Add(time.Hour)
	s := open(t, t.TempDir(), Options{Now: func() time.Time { return now }})
	app := appID(1)
	ls := []Line{{Msg: "nul\x00byte \xff"}, {Stream: "stderr", At: t0.Add(1500 * time.Microsecond), Msg: ""}}
	must(t, s.Append(app, ls))
	got, err := s.List(app, 0, 10)
	must(t, err)
	want := []Line{{ID: ls[0].ID, At: now, Stream: "stdout", Msg: "nul\uFFFDbyte \uFFFD"},
		{ID: ls[1].ID, At: t0.Add(time.Millisecond), Stream: "stderr"}}
	sameLines(t, "normalised", got, want)
	if ls[0].Msg != want[0].Msg || ls[0].Stream != "stdout" {
		t.Fatalf("Append did not update the lines: %+v", ls[0])
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 300}
	s := open(t, dir, opts)
	app := appID(1)
	first := appendN(t, s, app, "before", 20, 3)
	must(t, s.Close())
	if err := s.Append(app, []Line{{Msg: "x"}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	s = open(t, dir, opts)
	second := appendN(t, s, app, "after", 20, 3)
	if second[0].ID <= first[len(first)-1].ID {
		t.Fatalf("id after reopen %d <= %d", second[0].ID, first[len(first)-1].ID)
	}
	got, err := s.List(app, 0, 100)
	must(t, err)
	sameLines(t, "across a restart", got, append(first, second...))
}

func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	app := appID(1)
	kept := appendN(t, s, app, "kept", 10, 10)
	must(t, s.Close())
	// A crash in the middle of the next write: the start of a record.
	var rec []byte
	rec = appendRecord(rec, &Line{At: t0, Stream: "stdout", Msg: "torn away"})
	seg := filepath.Join(dir, app, fmt.Sprintf("%020d.log", 0))
	f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	_, err = f.Write(rec[:len(rec)-3])
	must(t, err)
	f.Close()

	s = open(t, dir, Options{})
	got, err := s.List(app, 0, 100) // a reader first: it recovers too
	must(t, err)
	sameLines(t, "after the crash", got, kept)
	next := appendN(t, s, app, "next", 2, 2)
	if next[0].ID != kept[9].ID+int64(len(appendRecord(nil, &kept[9]))) {
		t.Fatalf("next id %d does not follow %d", next[0].ID, kept[9].ID)
	}
	got, err = s.List(app, kept[9].ID, 100)
	must(t, err)
	sameLines(t, "after recovery", got, next)

	// A damaged checksum in the last record is torn too.
	must(t, s.Close())
	fi, _ := os.Stat(seg)
	f, _ = os.OpenFile(seg, os.O_RDWR, 0)
	_, err = f.WriteAt([]byte{'X'}, fi.Size()-10)
	must(t, err)
	f.Close()
	s = open(t, dir, Options{})
	got, err = s.List(app, 0, 100)
	must(t, err)
	sameLines(t, "after a bad checksum", got, append(kept, next[0]))
}

func TestDelete(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	app, other := appID(1), appID(2)
	appendN(t, s, app, "x", 5, 5)
	keep := appendN(t, s, other, "y", 5, 5)
	must(t, s.Delete(app))
	if _, err := os.Stat(filepath.Join(dir, app)); !os.IsNotExist(err) {
		t.Fatalf("app folder still there: %v", err)
	}
	// A batch in flight for the deleted app is dropped.
	must(t, s.Append(app, []Line{{Msg: "late"}}))
	got, err := s.List(app, 0, 10)
	if err != nil || len(got) != 0 {
		t.Fatalf("List(deleted) = %v, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, app)); !os.IsNotExist(err) {
		t.Fatalf("a late append brought the folder back: %v", err)
	}
	got, _ = s.List(other, 0, 10)
	sameLines(t, "other app", got, keep)
	ids, err := s.Apps()
	if err != nil || !slices.Equal(ids, []string{other}) {
		t.Fatalf("Apps() = %v, %v", ids, err)
	}
	must(t, s.Delete(appID(3))) // no logs: fine
}

func TestPrune(t *testing.T) {
	dir := t.TempDir()
	now := t0
	opts := Options{SegmentBytes: 300, MaxAppBytes: 1000, MaxAge: 24 * time.Hour, Now: func() time.Time { return now }}
	s := open(t, dir, opts)
	chatty, quiet, fresh := appID(1), appID(2), appID(3)

	// Size: the cap holds while appending, to between MaxAppBytes and
	// MaxAppBytes + SegmentBytes.
	all := appendN(t, s, chatty, "chatty", 200, 4)
	size := func(app string) (total int64) {
		es, _ := os.ReadDir(filepath.Join(dir, app))
		for _, e := range es {
			fi, _ := e.Info()
			total += fi.Size()
		}
		return total
	}
	if n := size(chatty); n < 1000 || n > 1000+300+200 {
		t.Fatalf("chatty app holds %d bytes", n)
	}
	got, err := s.List(chatty, 0, 1000)
	must(t, err)
	sameLines(t, "newest kept", got, all[len(all)-len(got):])
	// A cursor from before the oldest kept line resumes at the oldest.
	got2, err := s.List(chatty, all[0].ID, 1000)
	must(t, err)
	sameLines(t, "after a pruned line", got2, got)

	// Age: by when a segment was last written.
	q := appendN(t, s, quiet, "quiet", 30, 3)
	f := appendN(t, s, fresh, "fresh", 3, 3)
	old := t0.Add(-48 * time.Hour)
	for _, app := range []string{quiet, chatty} {
		es, _ := os.ReadDir(filepath.Join(dir, app))
		for _, e := range es {
			must(t, os.Chtimes(filepath.Join(dir, app, e.Name()), old, old))
		}
	}
	must(t, s.Prune(now))
	for _, app := range []string{quiet, chatty} {
		if got, _ := s.List(app, 0, 100); len(got) != 0 {
			t.Fatalf("%s kept %d old lines", app, len(got))
		}
	}
	got, _ = s.List(fresh, 0, 100)
	sameLines(t, "fresh app", got, f)
	// Ids carry on after everything was pruned, also across a restart.
	must(t, s.Close())
	s = open(t, dir, opts)
	next := appendN(t, s, quiet, "again", 1, 1)
	if next[0].ID <= q[len(q)-1].ID {
		t.Fatalf("id after pruning %d <= %d", next[0].ID, q[len(q)-1].ID)
	}
	got, _ = s.List(quiet, q[len(q)-1].ID, 10)
	sameLines(t, "after pruning", got, next)
	// Prune with nothing to do, and a smaller cap applied by Prune.
	must(t, s.Prune(now))
	must(t, s.Close())
	s = open(t, dir, Options{SegmentBytes: 300, MaxAppBytes: 1, Now: opts.Now})
	appendN(t, s, fresh, "more", 40, 4)
	must(t, s.Prune(now))
	es, _ := os.ReadDir(filepath.Join(dir, fresh))
	if len(es) != 1 {
		t.Fatalf("%d segments under a 1-byte cap, want the newest only", len(es))
	}
}

func TestBadAppIDs(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	for _, id := range []string{"", "app_", "..", "../../etc", "app_../../../../../../../../tmp/x", "APP_AAAAAAAAAAAAAAAAAAAAAAAAAA",
		"app_aaaaaaaaaaaaaaaaaaaaaaaaa1", "app_aaaaaaaaaaaaaaaaaaaaaaaaaaa", "app_aaaaaaaaaaaaaaaaaaaaaaaaa/", "tok_aaaaaaaaaaaaaaaaaaaaaaaaaa"} {
		if err := s.Append(id, []Line{{Msg: "x"}}); !errors.Is(err, ErrBadAppID) {
			t.Errorf("Append(%q) = %v", id, err)
		}
		if _, err := s.List(id, 0, 1); !errors.Is(err, ErrBadAppID) {
			t.Errorf("List(%q) = %v", id, err)
		}
		if err := s.Delete(id); !errors.Is(err, ErrBadAppID) {
			t.Errorf("Delete(%q) = %v", id, err)
		}
	}
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Fatalf("bad ids made %d entries", len(es))
	}
	if !ValidAppID("app_abcdefghijklmnopqrstuvwxyz") || !ValidAppID("app_234567abcdefghijklmnopqrst") {
		t.Fatal("valid ids refused")
	}
}

// TestConcurrent runs the ingest writer's pattern against readers that
// follow the log and readers that open it, with pruning and handle
// eviction going on (run with -race).
func TestConcurrent(t *testing.T) {
	s := open(t, t.TempDir(), Options{SegmentBytes: 2000, MaxAppBytes: 1 << 30, OpenFiles: 2})
	apps := []string{appID(1), appID(2), appID(3)}
	const rounds = 300
	for _, app := range apps { // followers start after this line (id 1)
		must(t, s.Append(app, []Line{{Msg: "start"}}))
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for r := range rounds {
			for _, app := range apps {
				ls := []Line{{Msg: fmt.Sprint(2 * r)}, {Msg: fmt.Sprint(2*r + 1)}}
				if err := s.Append(app, ls); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	errc := make(chan error, 16)
	for _, app := range apps {
		wg.Add(2)
		go func() { // follow: every line once, in order
			defer wg.Done()
			after := int64(1)
			next := 0
			for {
				finished := false
				select {
				case <-done:
					finished = true
				default:
				}
				ls, err := s.List(app, after, 7)
				if err != nil {
					errc <- err
					return
				}
				for _, l := range ls {
					if l.Msg != fmt.Sprint(next) || l.ID <= after {
						errc <- fmt.Errorf("follow %s: got %q (id %d after %d), want %d", app, l.Msg, l.ID, after, next)
						return
					}
					next++
					after = l.ID
				}
				if finished && len(ls) == 0 {
					if next != 2*rounds {
						errc <- fmt.Errorf("follow %s: %d lines, want %d", app, next, 2*rounds)
					}
					return
				}
			}
		}()
		go func() { // open: the last lines are consecutive
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				ls, err := s.List(app, 0, 5)
				if err != nil {
					errc <- err
					return
				}
				for i := 1; i < len(ls); i++ {
					if a, b := ls[i-1].Msg, ls[i].Msg; a == "start" && b == "0" {
						continue
					}
					if a, b := ls[i-1].Msg, ls[i].Msg; fmt.Sprint(atoi(a)+1) != b {
						errc <- fmt.Errorf("last lines of %s: %q then %q", app, a, b)
						return
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := s.Prune(time.Now()); err != nil {
				errc <- err
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

func atoi(s string) int {
	n := 0
	fmt.Sscan(s, &n)
	return n
}

// BenchmarkAppend is the ingest writer's log work at 10,000 workers
// (docs/BENCHMARKS.md, "Runtime log files"):
//
//	go test -run '^$' -bench Append -benchtime 300x ./internal/logstore/
//
// 10,000 apps, one runtime_log message of 5 ~200-byte lines every 3 s
// each: 3,333 messages/s, about 333 per 100 ms batch, each batch one
// Append per app, round-robin, so with the default 256 open files every
// Append opens and closes its segment; with 10,000 none does.
func BenchmarkAppend(b *testing.B) {
	for _, files := range []int{DefaultOpenFiles, 10_000} {
		b.Run(fmt.Sprintf("open-files=%d", files), func(b *testing.B) { benchAppend(b, files) })
	}
}

func benchAppend(b *testing.B, openFiles int) {
	const (
		apps        = 10_000
		msgsPerSec  = 3333
		perBatch    = 333
		linesPerMsg = 5
	)
	s := open(b, b.TempDir(), Options{OpenFiles: openFiles})
	ids := make([]string, apps)
	for i := range ids {
		ids[i] = appID(i)
	}
	msg := func(n, k int) string {
		return fmt.Sprintf("%s 10.0.%d.%d - - \"GET /api/v1/items/%d?page=%d HTTP/1.1\" 200 %d \"-\" \"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\" rt=0.%03d",
			t0.Format(time.RFC3339), n%256, k, n, k, 1000+n%9000, n%1000)
	}
	next := 0
	batch := func() [][]Line {
		out := make([][]Line, perBatch)
		for m := range out {
			ls := make([]Line, linesPerMsg)
			for k := range ls {
				ls[k] = Line{At: t0, Stream: "stdout", Msg: msg(next, k)}
			}
			out[m] = ls
			next++
		}
		return out
	}
	// Every app has a log already (each first append creates its folder).
	for range apps / perBatch {
		b0, base := batch(), next-perBatch
		for m, ls := range b0 {
			must(b, s.Append(ids[(base+m)%apps], ls))
		}
	}
	msgs := 0
	for b.Loop() {
		b.StopTimer()
		bt, base := batch(), next-perBatch
		b.StartTimer()
		for m, ls := range bt {
			if err := s.Append(ids[(base+m)%apps], ls); err != nil {
				b.Fatal(err)
			}
		}
		msgs += len(bt)
	}
	ns := float64(b.Elapsed().Nanoseconds()) / float64(msgs)
	b.ReportMetric(ns, "ns/msg")
	b.ReportMetric(ns*msgsPerSec/1e9*100, "%core@3333msg/s")
}
