package store

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"sync"
	"time"
)

// AppStat is one sample of an app's resource use.
type AppStat struct {
	ID            int64
	AppID         string
	At            time.Time
	CPUPercent    float64
	MemBytes      int64
	MemLimitBytes int64
	NetRxBytes    int64
	NetTxBytes    int64
	PIDs          int
}

// Samples are buffered in memory and written every statsFlushEvery, in
// app order, instead of as they arrive. Ten thousand workers report a
// sample per app every 10 s; written as they come, each row lands on a
// different leaf of the (app_id, at) index, so each dirties a page of its
// own (written to the WAL, then again at checkpoint). Written a minute at a
// time and sorted, an app's six samples share one leaf. Reads merge the
// buffer, so nothing is missing from the API meanwhile; the cost is that a
// crash (not a shutdown: Close flushes) loses up to a minute of samples,
// which are telemetry, not acknowledged data.
const (
	statsFlushEvery = time.Minute
	statsFlushRows  = 200_000 // flush early past this many (a burst)
)

type statsBuffer struct {
	mu       sync.Mutex
	pending  []AppStat
	since    time.Time         // when the oldest pending sample was buffered
	flushing []AppStat         // being written; still visible to reads
	names    map[string]string // interned app ids of pending
	// wmu serialises flushes so that flushing is one batch at a time.
	wmu sync.Mutex
}

// dueLocked reports whether the buffer should be written at t; mu held.
func (b *statsBuffer) dueLocked(t time.Time) bool {
	return len(b.pending) > 0 && (len(b.pending) >= statsFlushRows || t.Sub(b.since) >= statsFlushEvery)
}

// InsertAppStats buffers a batch of samples (see statsFlushEvery) and
// writes the buffer when it is due. Samples of apps that no longer exist
// when the buffer is written are dropped; a zero At is stored as now.
func (s *Store) InsertAppStats(ctx context.Context, rows []AppStat) error {
	if len(rows) == 0 {
		return nil
	}
	t := now()
	b := &s.stats
	b.mu.Lock()
	if len(b.pending) == 0 {
		b.since = t
	}
	if b.names == nil {
		b.names = map[string]string{}
	}
	for _, r := range rows {
		if r.At.IsZero() {
			r.At = t
		}
		r.ID = 0
		// One copy of each app id for the whole buffer: the caller's
		// strings may share (and so keep alive) a whole received message.
		name, ok := b.names[r.AppID]
		if !ok {
			name = strings.Clone(r.AppID)
			b.names[name] = name
		}
		r.AppID = name
		b.pending = append(b.pending, r)
	}
	due := b.dueLocked(t)
	b.mu.Unlock()
	if due {
		return s.FlushAppStats(ctx)
	}
	return nil
}

// FlushDueAppStats writes the buffered samples if the oldest has waited
// statsFlushEvery: the server calls it on a ticker, so that a quiet
// instance does not keep samples in memory for long.
func (s *Store) FlushDueAppStats(ctx context.Context) error {
	s.stats.mu.Lock()
	due := s.stats.dueLocked(now())
	s.stats.mu.Unlock()
	if !due {
		return nil
	}
	return s.FlushAppStats(ctx)
}

// FlushAppStats writes the buffered samples now (Close calls it).
func (s *Store) FlushAppStats(ctx context.Context) error {
	b := &s.stats
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.mu.Lock()
	rows := b.pending
	b.pending = nil
	b.names = nil
	b.flushing = rows
	b.mu.Unlock()
	if len(rows) == 0 {
		return nil
	}
	err := s.writeAppStats(ctx, rows)
	b.mu.Lock()
	b.flushing = nil
	if err != nil {
		// Keep them for the next flush rather than lose them.
		b.pending = append(rows, b.pending...)
		if len(b.pending) > 2*statsFlushRows {
			b.pending = b.pending[len(b.pending)-2*statsFlushRows:]
		}
		b.since = now()
	}
	b.mu.Unlock()
	return err
}

// writeAppStats inserts rows in one transaction, sorted by app and time.
func (s *Store) writeAppStats(ctx context.Context, rows []AppStat) error {
	rows = slices.Clone(rows)
	slices.SortStableFunc(rows, func(a, b AppStat) int {
		if c := strings.Compare(a.AppID, b.AppID); c != 0 {
			return c
		}
		return a.At.Compare(b.At)
	})
	err := s.tx(ctx, func(tx *sql.Tx) error {
		exists, err := s.existingApps(ctx, tx, len(rows), func(i int) string { return rows[i].AppID })
		if err != nil {
			return err
		}
		keep := slices.DeleteFunc(rows, func(r AppStat) bool { return !exists[r.AppID] })
		// 8 parameters a row: half as many rows per statement as log lines.
		for chunk := range slices.Chunk(keep, rowsPerInsert/2) {
			args := make([]any, 0, 8*len(chunk))
			for _, r := range chunk {
				args = append(args, r.AppID, ms(r.At), r.CPUPercent, r.MemBytes, r.MemLimitBytes, r.NetRxBytes, r.NetTxBytes, r.PIDs)
			}
			q := `INSERT INTO app_stats (app_id, at, cpu_percent, mem_bytes, mem_limit_bytes, net_rx_bytes, net_tx_bytes, pids) VALUES ` +
				strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?), ", len(chunk)), ", ")
			if _, err := tx.ExecContext(ctx, s.qDynamic(q), args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return wrapErr(err, "insert app stats")
	}
	return nil
}

// ListAppStats returns the app's samples taken at or after since, oldest
// first, including those not yet written (with ID 0).
func (s *Store) ListAppStats(ctx context.Context, appID string, since time.Time) ([]AppStat, error) {
	// The buffer is read first: a sample moves from it to the table, never
	// back, so reading the table second cannot miss one (it may see one
	// twice, which the merge drops).
	var buffered []AppStat
	s.stats.mu.Lock()
	for _, list := range [][]AppStat{s.stats.flushing, s.stats.pending} {
		for _, r := range list {
			if r.AppID == appID && !r.At.Before(since) {
				buffered = append(buffered, r)
			}
		}
	}
	s.stats.mu.Unlock()

	rows, err := s.query(ctx, `SELECT id, app_id, at, cpu_percent, mem_bytes, mem_limit_bytes, net_rx_bytes, net_tx_bytes, pids
		FROM app_stats WHERE app_id = ? AND at >= ? ORDER BY at, id`, appID, ms(since))
	st, err := collect(rows, err, func(sc scanner) (AppStat, error) {
		var r AppStat
		err := sc.Scan(&r.ID, &r.AppID, msTime{&r.At}, &r.CPUPercent, &r.MemBytes, &r.MemLimitBytes,
			&r.NetRxBytes, &r.NetTxBytes, &r.PIDs)
		return r, err
	})
	if err != nil {
		return nil, wrapErr(err, "list stats of app %s", appID)
	}
	if len(buffered) == 0 {
		return st, nil
	}
	// Stored times have millisecond precision.
	stored := make(map[int64]bool, len(st))
	for _, r := range st {
		stored[ms(r.At)] = true
	}
	for _, r := range buffered {
		if !stored[ms(r.At)] {
			r.At = fromMS(ms(r.At))
			st = append(st, r)
		}
	}
	slices.SortStableFunc(st, func(a, b AppStat) int { return a.At.Compare(b.At) })
	return st, nil
}

// PruneAppStats deletes samples older than olderThan.
func (s *Store) PruneAppStats(ctx context.Context, olderThan time.Time) error {
	if _, err := s.exec(ctx, `DELETE FROM app_stats WHERE at < ?`, ms(olderThan)); err != nil {
		return wrapErr(err, "prune app stats")
	}
	return nil
}
