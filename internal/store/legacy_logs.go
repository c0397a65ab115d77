package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Runtime logs are files now (internal/logstore). Migration 0004 set the
// table earlier builds kept them in aside as runtime_log_chunks_0003; the
// server copies its lines into the files once, at start, then drops it.
const legacyLogTable = "runtime_log_chunks_0003"

// LegacyRuntimeLogLine is a runtime log line stored by an earlier build.
type LegacyRuntimeLogLine struct {
	Stream string
	At     time.Time
	Msg    string
}

// legacyExportBatch bounds the lines handed over at a time.
const legacyExportBatch = 1000

// HasLegacyRuntimeLogs reports whether the table of an earlier build's
// runtime logs is still there.
func (s *Store) HasLegacyRuntimeLogs(ctx context.Context) (bool, error) {
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	if s.dialect == dialectPostgres {
		q = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`
	}
	var n int
	if err := s.queryRow(ctx, q, legacyLogTable).Scan(&n); err != nil {
		return false, wrapErr(err, "look for legacy runtime logs")
	}
	return n > 0, nil
}

// ExportLegacyRuntimeLogs calls fn with the stored lines of each app that
// still exists, oldest first, up to 1,000 at a time, one app after the
// other (in the (app_id, id) index's order).
func (s *Store) ExportLegacyRuntimeLogs(ctx context.Context, fn func(appID string, lines []LegacyRuntimeLogLine) error) error {
	rows, err := s.query(ctx, `SELECT app_id, at, lines FROM `+legacyLogTable+`
		WHERE app_id IN (SELECT id FROM apps) ORDER BY app_id, id`)
	if err != nil {
		return wrapErr(err, "export legacy runtime logs")
	}
	defer rows.Close()
	var app string
	var batch []LegacyRuntimeLogLine
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := fn(app, batch)
		batch = batch[:0]
		return err
	}
	for rows.Next() {
		var id, data string
		var at int64
		if err := rows.Scan(&id, &at, &data); err != nil {
			return wrapErr(err, "export legacy runtime logs")
		}
		if id != app || len(batch) >= legacyExportBatch {
			if err := flush(); err != nil {
				return err
			}
			app = id
		}
		// A chunk is a JSON array of [stream, at - chunk at in ms, msg]
		// (migration 0003).
		var triples [][3]any
		if err := json.Unmarshal([]byte(data), &triples); err != nil {
			return fmt.Errorf("store: export legacy runtime logs of app %s: %w", id, err)
		}
		for _, t := range triples {
			stream, _ := t[0].(string)
			delta, _ := t[1].(float64)
			msg, _ := t[2].(string)
			batch = append(batch, LegacyRuntimeLogLine{Stream: stream, At: fromMS(at + int64(delta)), Msg: msg})
		}
	}
	if err := rows.Err(); err != nil {
		return wrapErr(err, "export legacy runtime logs")
	}
	return flush()
}

// DropLegacyRuntimeLogs drops the table of an earlier build's runtime logs.
func (s *Store) DropLegacyRuntimeLogs(ctx context.Context) error {
	if _, err := s.exec(ctx, `DROP TABLE IF EXISTS `+legacyLogTable); err != nil {
		return wrapErr(err, "drop legacy runtime logs")
	}
	return nil
}
