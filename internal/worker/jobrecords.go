package worker

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/wisehosting/wisehosting/internal/wsproto"
)

var imageIDRE = regexp.MustCompile(`^(sha256:)?[0-9a-f]{64}$`)

// jobRecord is what the agent remembers of a job, so a redelivered job is
// answered instead of run again — also across agent restarts.
type jobRecord struct {
	State  string                    `json:"state"` // queued | running | done
	Result *wsproto.JobResultPayload `json:"result,omitempty"`
	At     time.Time                 `json:"at"`
}

// keepJobRecords bounds the file: older finished jobs are forgotten (the
// control plane stops re-sending a job once it has its result).
const keepJobRecords = 1000

type jobRecords struct {
	path string
	mu   sync.Mutex
	m    map[string]jobRecord
}

func loadJobRecords(path string) (*jobRecords, error) {
	r := &jobRecords{path: path, m: map[string]jobRecord{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("worker: read job records: %w", err)
	}
	if err := json.Unmarshal(b, &r.m); err != nil {
		// Unreadable (a disk that filled up, a crash of an older build
		// mid-write): start empty rather than refuse to start. The cost is
		// that a finished job the control plane redelivers runs again,
		// which every job type tolerates.
		slog.Warn("worker: job records unreadable; starting with none", "path", path, "err", err)
		r.m = map[string]jobRecord{}
		return r, nil
	}
	// A job that was queued or running when the agent stopped did not
	// finish: forget it, so its redelivery runs it.
	for id, rec := range r.m {
		if rec.State != "done" {
			delete(r.m, id)
		}
	}
	return r, nil
}

func (r *jobRecords) get(id string) (jobRecord, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.m[id]
	return rec, ok
}

// forget drops a job's record (a job refused before it was queued). The
// file is rewritten with the next put.
func (r *jobRecords) forget(id string) {
	r.mu.Lock()
	delete(r.m, id)
	r.mu.Unlock()
}

// put records a job's state and writes the file atomically.
func (r *jobRecords) put(id string, rec jobRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec.At = time.Now()
	r.m[id] = rec
	if len(r.m) > keepJobRecords {
		ids := make([]string, 0, len(r.m))
		for k := range r.m {
			ids = append(ids, k)
		}
		sort.Slice(ids, func(i, j int) bool { return r.m[ids[i]].At.Before(r.m[ids[j]].At) })
		for _, k := range ids[:len(ids)-keepJobRecords] {
			delete(r.m, k)
		}
	}
	b, err := json.Marshal(r.m)
	if err != nil {
		return
	}
	if err := writeFileSynced(r.path, b); err != nil {
		slog.Warn("worker: save job records", "err", err)
	}
}

// writeFileSynced replaces path with b atomically and durably: a temp
// file, fsynced, renamed over path, and the directory fsynced, so a power
// loss leaves the old file or the new one, never a torn one.
func writeFileSynced(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
