package store

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"
)

// RuntimeLogLine is one line an app wrote to stdout or stderr. ID is
// assigned on insert and increases with insertion order, so it is the
// cursor for ListRuntimeLogs.
type RuntimeLogLine struct {
	ID     int64
	AppID  string
	Stream string
	At     time.Time
	Msg    string
}

// rowsPerInsert bounds a multi-row INSERT: 4 parameters a row keeps far
// below both databases' parameter limits while amortising round trips.
const rowsPerInsert = 250

// existingApps returns which of the apps referenced by n rows still exist:
// a worker may report logs or stats for an app deleted a moment ago, and
// one such row must not fail the whole batch on the foreign key.
func (s *Store) existingApps(ctx context.Context, tx *sql.Tx, n int, appID func(int) string) (map[string]bool, error) {
	ids := map[string]bool{}
	for i := range n {
		ids[appID(i)] = false
	}
	args := make([]any, 0, len(ids))
	for id := range ids {
		args = append(args, id)
	}
	rows, err := tx.QueryContext(ctx, s.qDynamic(`SELECT id FROM apps WHERE id IN (`+placeholders(len(args))+`)`), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids[id] = true
	}
	return ids, rows.Err()
}

// cleanText makes msg storable in PostgreSQL TEXT (no NUL, valid UTF-8),
// and is applied on both databases so they hold the same thing.
func cleanText(msg string) string {
	if strings.IndexByte(msg, 0) >= 0 {
		msg = strings.ReplaceAll(msg, "\x00", "\uFFFD")
	}
	return strings.ToValidUTF8(msg, "\uFFFD")
}

// InsertRuntimeLogs stores a batch of lines in one transaction and returns
// their ids, in the order of lines (also written to lines[i].ID). Lines
// whose app no longer exists are dropped and get id 0. A zero At is
// stored as now; NUL bytes and invalid UTF-8 in Msg become U+FFFD.
func (s *Store) InsertRuntimeLogs(ctx context.Context, lines []RuntimeLogLine) ([]int64, error) {
	ids := make([]int64, len(lines))
	if len(lines) == 0 {
		return ids, nil
	}
	t := now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		exists, err := s.existingApps(ctx, tx, len(lines), func(i int) string { return lines[i].AppID })
		if err != nil {
			return err
		}
		keep := make([]int, 0, len(lines)) // indexes of lines to insert
		for i := range lines {
			if exists[lines[i].AppID] {
				keep = append(keep, i)
			}
		}
		for chunk := range slices.Chunk(keep, rowsPerInsert) {
			args := make([]any, 0, 4*len(chunk))
			for _, i := range chunk {
				l := &lines[i]
				at := l.At
				if at.IsZero() {
					at = t
				}
				stream := l.Stream
				if stream == "" {
					stream = "stdout"
				}
				args = append(args, l.AppID, stream, ms(at), cleanText(l.Msg))
			}
			q := `INSERT INTO runtime_logs (app_id, stream, at, msg) VALUES ` +
				strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?), ", len(chunk)), ", ") + ` RETURNING id`
			rows, err := tx.QueryContext(ctx, s.qDynamic(q), args...)
			got, err := collect(rows, err, func(sc scanner) (int64, error) {
				var id int64
				return id, sc.Scan(&id)
			})
			if err != nil {
				return err
			}
			// RETURNING order is unspecified, but one statement assigns
			// ids to its VALUES rows in order, so ascending ids match the
			// rows one to one.
			slices.Sort(got)
			for k, i := range chunk {
				ids[i] = got[k]
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrapErr(err, "insert runtime logs")
	}
	for i := range lines {
		lines[i].ID = ids[i]
	}
	return ids, nil
}

// ListRuntimeLogs returns up to limit lines of the app, oldest first. With
// afterID > 0 they are the lines after that id (to follow a log); with
// afterID == 0 they are the last limit lines (to open a log view).
func (s *Store) ListRuntimeLogs(ctx context.Context, appID string, afterID int64, limit int) ([]RuntimeLogLine, error) {
	limit = limitOr(limit)
	const cols = `id, app_id, stream, at, msg`
	var rows *sql.Rows
	var err error
	if afterID > 0 {
		rows, err = s.query(ctx, `SELECT `+cols+` FROM runtime_logs WHERE app_id = ? AND id > ? ORDER BY id LIMIT ?`,
			appID, afterID, limit)
	} else {
		rows, err = s.query(ctx, `SELECT `+cols+` FROM (SELECT `+cols+` FROM runtime_logs WHERE app_id = ?
			ORDER BY id DESC LIMIT ?) recent ORDER BY id`, appID, limit)
	}
	ls, err := collect(rows, err, func(sc scanner) (RuntimeLogLine, error) {
		var l RuntimeLogLine
		err := sc.Scan(&l.ID, &l.AppID, &l.Stream, msTime{&l.At}, &l.Msg)
		return l, err
	})
	if err != nil {
		return nil, wrapErr(err, "list runtime logs of app %s", appID)
	}
	return ls, nil
}

// PruneRuntimeLogs applies the retention policy: lines older than
// olderThan go, and so does everything but the newest keepPerApp lines of
// each app (keepPerApp <= 0: no per-app cap). Both limits bound disk use:
// the first for quiet apps, the second for chatty ones.
func (s *Store) PruneRuntimeLogs(ctx context.Context, olderThan time.Time, keepPerApp int) error {
	if _, err := s.exec(ctx, `DELETE FROM runtime_logs WHERE at < ?`, ms(olderThan)); err != nil {
		return wrapErr(err, "prune runtime logs")
	}
	if keepPerApp <= 0 {
		return nil
	}
	rows, err := s.query(ctx, `SELECT id FROM apps`)
	appIDs, err := collect(rows, err, func(sc scanner) (string, error) {
		var id string
		return id, sc.Scan(&id)
	})
	if err != nil {
		return wrapErr(err, "prune runtime logs")
	}
	// One short statement per app, each using the (app_id, id) index,
	// rather than one long one that would hold the write lock throughout.
	for _, app := range appIDs {
		_, err := s.exec(ctx, `DELETE FROM runtime_logs WHERE app_id = ? AND id <= (
			SELECT id FROM runtime_logs WHERE app_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`, app, app, keepPerApp)
		if err != nil {
			return wrapErr(err, "prune runtime logs of app %s", app)
		}
	}
	return nil
}
