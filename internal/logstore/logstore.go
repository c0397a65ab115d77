// Package logstore keeps the apps' runtime logs in append-only files on
// local disk, outside the database: <dir>/<app-id>/<start>.log segments,
// where start is the segment's first byte offset in the app's whole log,
// written as 20 digits. A line's id is 1 + its record's offset in that
// whole log (see record.go for the record), so ids increase strictly per
// app, survive restarts and let a reader find a line without an index.
//
// Appending a batch of an app's lines is one write(2) to the end of its
// newest segment: no database page, no index, no WAL. There is no fsync:
// as with SQLite's synchronous=NORMAL, what write(2) returned is in the
// kernel's page cache and survives the process being killed (kill -9, a
// crash); only a power loss or kernel crash can lose the last seconds.
// A record cut short by a crash in the middle of a write is cut off the
// file when the app's log is first opened again.
//
// One goroutine appends (the ingest writer), others list, delete and
// prune. Mutations — Append, Delete, Prune, and first opening an app's
// log — hold one writer lock; readers only copy the app's segment list
// (a few entries) under a read lock and then read files up to the sizes
// they copied, which only ever cover whole records.
package logstore

import (
	"cmp"
	"container/list"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Line is one line an app wrote to stdout or stderr.
type Line struct {
	ID     int64 // assigned by Append; the cursor for List
	At     time.Time
	Stream string
	Msg    string
}

// Options tune a Store; zero values take the defaults.
type Options struct {
	// SegmentBytes: the newest segment is closed and a new one started
	// once it holds this much (default 4 MiB).
	SegmentBytes int64
	// MaxAppBytes caps each app's log: whole old segments go once the
	// app's segments hold more (default 8 MiB, so an app keeps between
	// MaxAppBytes and MaxAppBytes+SegmentBytes of its newest lines).
	MaxAppBytes int64
	// MaxAge: Prune deletes segments last written longer ago (default 7 days).
	MaxAge time.Duration
	// OpenFiles bounds the segments kept open for appending (default 256):
	// the server already holds a socket per worker.
	OpenFiles int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Defaults.
const (
	DefaultSegmentBytes = 4 << 20
	DefaultMaxAppBytes  = 8 << 20
	DefaultMaxAge       = 7 * 24 * time.Hour
	DefaultOpenFiles    = 256
	// DefaultLimit is List's limit when none is given.
	DefaultLimit = 100
)

var (
	// ErrBadAppID refuses an app id that is not of the form the store
	// creates (it becomes a path component).
	ErrBadAppID = errors.New("logstore: bad app id")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("logstore: closed")
)

// Store is the runtime logs of every app under one directory.
type Store struct {
	dir   string
	dirfd int // dir, open until Close
	opts  Options

	// wmu serialises mutations; it owns the open append handles (lru,
	// appLog.f, appLog.elem) and buf.
	wmu sync.Mutex
	lru *list.List // of *appLog with an open handle, most recently used first
	buf []byte

	// mu guards the maps and every appLog's segs (written with wmu held).
	mu     sync.RWMutex
	apps   map[string]*appLog
	gone   map[string]bool // deleted apps: lines still in flight for them are dropped
	closed bool
}

type segment struct {
	start int64 // offset of its first byte in the app's whole log
	size  int64 // bytes of whole records
}

func (g segment) end() int64 { return g.start + g.size }

type appLog struct {
	id   string
	segs []segment // oldest first; the last is the one appended to

	fd   int // open for appending to the last segment, or -1
	elem *list.Element
}

func (a *appLog) end() int64 {
	if len(a.segs) == 0 {
		return 0
	}
	return a.segs[len(a.segs)-1].end()
}

// Open opens (creating) the log directory dir.
func Open(dir string, opts Options) (*Store, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	if opts.MaxAppBytes <= 0 {
		opts.MaxAppBytes = DefaultMaxAppBytes
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.OpenFiles <= 0 {
		opts.OpenFiles = DefaultOpenFiles
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("logstore: open %s: %w", dir, err)
	}
	dirfd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("logstore: open %s: %w", dir, err)
	}
	return &Store{dir: dir, dirfd: dirfd, opts: opts, lru: list.New(), apps: map[string]*appLog{}, gone: map[string]bool{}}, nil
}

// Dir is the directory the logs are in.
func (s *Store) Dir() string { return s.dir }

// ValidAppID reports whether id has the shape of the store's app ids:
// "app_" and 26 characters of lowercase base32 (store.newID).
func ValidAppID(id string) bool {
	rest, ok := strings.CutPrefix(id, "app_")
	if !ok || len(rest) != 26 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

func checkID(op, id string) error {
	if !ValidAppID(id) {
		return fmt.Errorf("logstore: %s %q: %w", op, id, ErrBadAppID)
	}
	return nil
}

func (s *Store) appDir(id string) string { return filepath.Join(s.dir, id) }

func (s *Store) segPath(id string, start int64) string {
	return filepath.Join(s.dir, segName(id, start))
}

// segName is a segment's path in the log directory:
// <id>/<start, 20 digits>.log.
func segName(id string, start int64) string {
	b := make([]byte, 0, len(id)+1+20+4)
	b = append(b, id...)
	b = append(b, '/')
	n := len(b)
	b = strconv.AppendInt(b, start, 10)
	if pad := 20 - (len(b) - n); pad > 0 {
		b = append(b[:n], append([]byte("00000000000000000000"[:pad]), b[n:]...)...)
	}
	return string(append(b, ".log"...))
}

// Append writes lines to the end of the app's log in one write and sets
// their IDs. Each line is stored normalised: a zero At becomes now, an
// empty Stream "stdout", NUL bytes and invalid UTF-8 become U+FFFD, and
// lines is updated to match. Lines of a deleted app are dropped (IDs 0).
func (s *Store) Append(appID string, lines []Line) error {
	if err := checkID("append to", appID); err != nil {
		return err
	}
	if len(lines) == 0 {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	a, err := s.loadLocked(appID)
	if err != nil || a == nil {
		return err
	}
	if len(a.segs) == 0 || a.segs[len(a.segs)-1].size >= s.opts.SegmentBytes {
		if err := s.rollLocked(a); err != nil {
			return fmt.Errorf("logstore: append to %s: %w", appID, err)
		}
	}
	last := a.segs[len(a.segs)-1]
	now := s.opts.Now()
	buf := s.buf[:0]
	for i := range lines {
		normalize(&lines[i], now)
		lines[i].ID = last.end() + int64(len(buf)) + 1
		buf = appendRecord(buf, &lines[i])
	}
	s.buf = buf
	if cap(s.buf) > 4<<20 {
		s.buf = nil // an outsized batch: do not keep its buffer
	}
	fd, err := s.handleLocked(a)
	if err == nil {
		err = writeAll(fd, buf)
		if err != nil {
			// A short write (disk full) leaves part of a record: cut it
			// off, or forget the app so the next use recovers the tail.
			if terr := ignoringEINTR(func() error { return syscall.Ftruncate(fd, last.size) }); terr != nil {
				s.forgetLocked(a)
			}
		}
	}
	if err != nil {
		for i := range lines {
			lines[i].ID = 0
		}
		return fmt.Errorf("logstore: append to %s: %w", appID, err)
	}
	s.mu.Lock()
	a.segs[len(a.segs)-1].size += int64(len(buf))
	s.mu.Unlock()
	return nil
}

// loadLocked returns the app's log, reading its segment list from disk
// and recovering a torn tail on first use; nil if the app was deleted.
// wmu must be held.
func (s *Store) loadLocked(id string) (*appLog, error) {
	s.mu.RLock()
	a, gone, closed := s.apps[id], s.gone[id], s.closed
	s.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if a != nil || gone {
		return a, nil
	}
	segs, err := s.scanSegments(id)
	if err != nil {
		return nil, err
	}
	if n := len(segs); n > 0 {
		size, err := recoverTail(s.segPath(id, segs[n-1].start), segs[n-1].size)
		if err != nil {
			return nil, fmt.Errorf("logstore: recover %s: %w", id, err)
		}
		segs[n-1].size = size
	}
	// Kept for the life of the store: a copy, not a string that may share
	// (and keep alive) a whole received message.
	id = strings.Clone(id)
	a = &appLog{id: id, segs: segs, fd: -1}
	s.mu.Lock()
	s.apps[id] = a
	s.mu.Unlock()
	return a, nil
}

// scanSegments lists the app's segment files, oldest first.
func (s *Store) scanSegments(id string) ([]segment, error) {
	entries, err := os.ReadDir(s.appDir(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("logstore: list %s: %w", id, err)
	}
	var segs []segment
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok || len(name) != 20 || !e.Type().IsRegular() {
			continue
		}
		start, err := strconv.ParseInt(name, 10, 64)
		if err != nil || start < 0 {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("logstore: list %s: %w", id, err)
		}
		segs = append(segs, segment{start: start, size: info.Size()})
	}
	slices.SortFunc(segs, func(x, y segment) int { return cmp.Compare(x.start, y.start) })
	// Only the newest segment is appended to: the others hold whole
	// records up to where the next one starts.
	for i := 0; i+1 < len(segs); i++ {
		segs[i].size = min(segs[i].size, segs[i+1].start-segs[i].start)
	}
	return segs, nil
}

// rollLocked starts a new, empty segment at the end of the app's log and
// applies the size cap. wmu must be held.
func (s *Store) rollLocked(a *appLog) error {
	s.closeHandleLocked(a)
	start := a.end()
	if err := os.MkdirAll(s.appDir(a.id), 0o700); err != nil {
		return err
	}
	// O_TRUNC: a file already there is an empty segment being replaced
	// or the leftover of a forgotten one.
	fd, err := s.openAppend(a.id, start, syscall.O_CREAT|syscall.O_TRUNC)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if n := len(a.segs); n > 0 && a.segs[n-1].size == 0 {
		a.segs = a.segs[:n-1] // an empty segment is replaced, not kept
	}
	a.segs = append(a.segs, segment{start: start})
	s.mu.Unlock()
	s.keepHandleLocked(a, fd)
	return s.capLocked(a)
}

// capLocked deletes the app's oldest segments while it holds more than
// MaxAppBytes (never the newest).
func (s *Store) capLocked(a *appLog) error {
	total := int64(0)
	for _, g := range a.segs {
		total += g.size
	}
	for len(a.segs) > 1 && total > s.opts.MaxAppBytes {
		total -= a.segs[0].size
		if err := s.dropOldestLocked(a); err != nil {
			return err
		}
	}
	return nil
}

// dropOldestLocked deletes the app's oldest segment: first from the list
// readers copy, then from disk (a reader that copied it meanwhile finds
// the file gone and skips it).
func (s *Store) dropOldestLocked(a *appLog) error {
	g := a.segs[0]
	s.mu.Lock()
	a.segs = slices.Delete(a.segs, 0, 1)
	s.mu.Unlock()
	if err := os.Remove(s.segPath(a.id, g.start)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// handleLocked returns the open append descriptor of the app's newest
// segment, opening it (and closing the least recently used) if needed.
//
// Append handles are plain descriptors, not *os.File: at 10,000 apps
// most appends open and close their segment, and os.OpenFile adds an
// epoll registration attempt and a finalizer to each.
func (s *Store) handleLocked(a *appLog) (int, error) {
	if a.fd >= 0 {
		s.lru.MoveToFront(a.elem)
		return a.fd, nil
	}
	fd, err := s.openAppend(a.id, a.segs[len(a.segs)-1].start, 0)
	if err != nil {
		return -1, err
	}
	s.keepHandleLocked(a, fd)
	return fd, nil
}

func (s *Store) keepHandleLocked(a *appLog, fd int) {
	for s.lru.Len() >= s.opts.OpenFiles {
		s.closeHandleLocked(s.lru.Back().Value.(*appLog))
	}
	a.fd, a.elem = fd, s.lru.PushFront(a)
}

func (s *Store) closeHandleLocked(a *appLog) {
	if a.fd < 0 {
		return
	}
	_ = syscall.Close(a.fd) // written with write(2) already: nothing is lost
	s.lru.Remove(a.elem)
	a.fd, a.elem = -1, nil
}

// openAppend opens a segment to append to, relative to the open log
// directory (two path components to resolve, not the data dir's whole path).
func (s *Store) openAppend(id string, start int64, flags int) (int, error) {
	name := segName(id, start)
	var fd int
	err := ignoringEINTR(func() (err error) {
		fd, err = syscall.Openat(s.dirfd, name, syscall.O_WRONLY|syscall.O_APPEND|syscall.O_CLOEXEC|flags, 0o600)
		return err
	})
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: filepath.Join(s.dir, name), Err: err}
	}
	return fd, nil
}

// writeAll writes b to fd (O_APPEND: at the end) with as few write(2)
// calls as the kernel allows: one, for a regular file with room.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return &fs.PathError{Op: "write", Path: "segment", Err: err}
		}
		if n == 0 {
			return &fs.PathError{Op: "write", Path: "segment", Err: io.ErrShortWrite}
		}
		b = b[n:]
	}
	return nil
}

func ignoringEINTR(f func() error) error {
	for {
		if err := f(); !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// forgetLocked drops what is known of the app, so its next use reads it
// from disk again.
func (s *Store) forgetLocked(a *appLog) {
	s.closeHandleLocked(a)
	s.mu.Lock()
	delete(s.apps, a.id)
	s.mu.Unlock()
}

// Delete removes the app's logs. Lines appended for it later (a batch in
// flight while the app was deleted) are dropped.
func (s *Store) Delete(appID string) error {
	if err := checkID("delete", appID); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	a := s.apps[appID]
	delete(s.apps, appID)
	s.gone[appID] = true
	s.mu.Unlock()
	if a != nil {
		s.closeHandleLocked(a)
	}
	if err := os.RemoveAll(s.appDir(appID)); err != nil {
		return fmt.Errorf("logstore: delete %s: %w", appID, err)
	}
	return nil
}

// Apps returns the ids of the apps that have a log folder, to find the
// logs of apps the database no longer has.
func (s *Store) Apps() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("logstore: list apps: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && ValidAppID(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Prune applies the retention policy to every app: segments last written
// more than MaxAge before now go, then the oldest while an app holds more
// than MaxAppBytes. Whole segments go, so up to a segment more may stay.
// An app whose newest segment goes keeps an empty one in its place, so
// its ids carry on from where they were.
func (s *Store) Prune(now time.Time) error {
	ids, err := s.Apps()
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		// The lock is taken per app so the ingest writer is never held
		// up for long.
		s.wmu.Lock()
		err := s.pruneLocked(id, now.Add(-s.opts.MaxAge))
		s.wmu.Unlock()
		if errors.Is(err, ErrClosed) {
			return err
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("logstore: prune %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Store) pruneLocked(id string, cutoff time.Time) error {
	a, err := s.loadLocked(id)
	if err != nil || a == nil {
		return err
	}
	for len(a.segs) > 0 && a.segs[0].size > 0 {
		info, err := os.Stat(s.segPath(id, a.segs[0].start))
		if err == nil && !info.ModTime().Before(cutoff) {
			break
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if len(a.segs) == 1 {
			// Keep the end: roll to an empty segment, then look again.
			if err := s.rollLocked(a); err != nil {
				return err
			}
			continue
		}
		if err := s.dropOldestLocked(a); err != nil {
			return err
		}
	}
	return s.capLocked(a)
}

// Close closes the open files. Append, List, Delete and Prune fail after.
func (s *Store) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if s.dirfd < 0 {
		return nil
	}
	for s.lru.Len() > 0 {
		s.closeHandleLocked(s.lru.Front().Value.(*appLog))
	}
	err := syscall.Close(s.dirfd)
	s.dirfd = -1
	if err != nil {
		return fmt.Errorf("logstore: close: %w", err)
	}
	return nil
}
