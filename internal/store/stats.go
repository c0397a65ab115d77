package store

import (
	"context"
	"database/sql"
	"slices"
	"strings"
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

// InsertAppStats stores a batch of samples in one transaction. Samples of
// apps that no longer exist are dropped; a zero At is stored as now.
func (s *Store) InsertAppStats(ctx context.Context, rows []AppStat) error {
	if len(rows) == 0 {
		return nil
	}
	t := now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		exists, err := s.existingApps(ctx, tx, len(rows), func(i int) string { return rows[i].AppID })
		if err != nil {
			return err
		}
		keep := slices.DeleteFunc(slices.Clone(rows), func(r AppStat) bool { return !exists[r.AppID] })
		// 8 parameters a row: half as many rows per statement as log lines.
		for chunk := range slices.Chunk(keep, rowsPerInsert/2) {
			args := make([]any, 0, 8*len(chunk))
			for _, r := range chunk {
				at := r.At
				if at.IsZero() {
					at = t
				}
				args = append(args, r.AppID, ms(at), r.CPUPercent, r.MemBytes, r.MemLimitBytes, r.NetRxBytes, r.NetTxBytes, r.PIDs)
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
// first.
func (s *Store) ListAppStats(ctx context.Context, appID string, since time.Time) ([]AppStat, error) {
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
	return st, nil
}

// PruneAppStats deletes samples older than olderThan.
func (s *Store) PruneAppStats(ctx context.Context, olderThan time.Time) error {
	if _, err := s.exec(ctx, `DELETE FROM app_stats WHERE at < ?`, ms(olderThan)); err != nil {
		return wrapErr(err, "prune app stats")
	}
	return nil
}
