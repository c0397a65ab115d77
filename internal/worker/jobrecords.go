package worker

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
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
		return nil, fmt.Errorf("worker: parse %s: %w", path, err)
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
	tmp := r.path + ".tmp"
	if os.WriteFile(tmp, b, 0o600) == nil {
		_ = os.Rename(tmp, r.path)
	}
}
