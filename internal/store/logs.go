package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// RuntimeLogLine is one line an app wrote to stdout or stderr. ID is
// assigned on insert and increases with insertion order, so it is the
// cursor for ListRuntimeLogs.
//
// Lines are stored a chunk at a time: one runtime_log_chunks row holds the
// consecutive lines of one app that arrived in one batch (in practice one
// worker message), so the ingest writer adds one row and one index entry
// per message rather than per line. A line's ID is its chunk's id times
// chunkLines plus its place in the chunk.
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

// chunkLines is the most lines one chunk holds; line ids are
// chunk id * chunkLines + index.
const chunkLines = 1024

// logChunk is one runtime_log_chunks row being written.
type logChunk struct {
	appID string
	at    int64 // ms: the newest line's time, at most the time it was stored
	n     int
	lines []byte // JSON, see encodeChunk
	first int    // index in the caller's lines of the chunk's first line
}

// encodeChunk encodes lines as the chunk's JSON array of
// [stream, at - chunkAt in ms, msg] triples, the form migration 0003 also
// writes with the databases' own JSON functions.
func encodeChunk(buf []byte, lines []RuntimeLogLine, chunkAt int64) []byte {
	buf = append(buf, '[')
	for i := range lines {
		l := &lines[i]
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '[')
		buf = appendJSONString(buf, l.Stream)
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, l.At.UnixMilli()-chunkAt, 10)
		buf = append(buf, ',')
		buf = appendJSONString(buf, l.Msg)
		buf = append(buf, ']')
	}
	return append(buf, ']')
}

// appendJSONString appends s, valid UTF-8 without NUL (see cleanText), as a
// JSON string.
func appendJSONString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '"', '\\':
			buf = append(buf, '\\', c)
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\t':
			buf = append(buf, '\\', 't')
		case '\r':
			buf = append(buf, '\\', 'r')
		default:
			buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// decodeChunk appends the lines of one stored chunk whose index is at
// least from.
func decodeChunk(out []RuntimeLogLine, appID string, id, at int64, data string, from int) ([]RuntimeLogLine, error) {
	var triples [][3]any
	if err := json.Unmarshal([]byte(data), &triples); err != nil {
		return out, fmt.Errorf("decode log chunk %d: %w", id, err)
	}
	for k := from; k < len(triples); k++ {
		t := triples[k]
		stream, _ := t[0].(string)
		delta, _ := t[1].(float64)
		msg, _ := t[2].(string)
		out = append(out, RuntimeLogLine{ID: id*chunkLines + int64(k), AppID: appID, Stream: stream,
			At: fromMS(at + int64(delta)), Msg: msg})
	}
	return out, nil
}

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
// their ids, in the order of lines (also written to lines[i].ID). Each run
// of consecutive lines of one app becomes one chunk (see RuntimeLogLine).
// Lines whose app no longer exists are dropped and get id 0. A zero At is
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
		// Normalise a copy, then cut it into chunks.
		clean := make([]RuntimeLogLine, len(lines))
		for i, l := range lines {
			if l.At.IsZero() {
				l.At = t
			}
			if l.Stream == "" {
				l.Stream = "stdout"
			}
			if !utf8.ValidString(l.Msg) || strings.IndexByte(l.Msg, 0) >= 0 {
				l.Msg = cleanText(l.Msg)
			}
			if !utf8.ValidString(l.Stream) || strings.IndexByte(l.Stream, 0) >= 0 {
				l.Stream = cleanText(l.Stream)
			}
			clean[i] = l
		}
		var chunks []logChunk
		var buf []byte
		for i := 0; i < len(clean); {
			j := i + 1
			for j < len(clean) && j-i < chunkLines && clean[j].AppID == clean[i].AppID {
				j++
			}
			if exists[clean[i].AppID] {
				at := clean[i].At
				for _, l := range clean[i+1 : j] {
					if l.At.After(at) {
						at = l.At
					}
				}
				if at.After(t) { // a chunk's at never passes the time it was stored: see PruneRuntimeLogs
					at = t
				}
				start := len(buf)
				buf = encodeChunk(buf, clean[i:j], ms(at))
				chunks = append(chunks, logChunk{appID: clean[i].AppID, at: ms(at), n: j - i,
					lines: buf[start:len(buf):len(buf)], first: i})
			}
			i = j
		}
		for part := range slices.Chunk(chunks, rowsPerInsert) {
			args := make([]any, 0, 4*len(part))
			for _, c := range part {
				args = append(args, c.appID, c.at, c.n, string(c.lines))
			}
			q := `INSERT INTO runtime_log_chunks (app_id, at, n, lines) VALUES ` +
				strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?), ", len(part)), ", ") + ` RETURNING id`
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
			for k, c := range part {
				for x := range c.n {
					ids[c.first+x] = got[k]*chunkLines + int64(x)
				}
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
	out := []RuntimeLogLine{}
	// Chunks are read one by one until enough lines are in: each holds at
	// least one line, so at most limit+1 are needed.
	var rows *sql.Rows
	var err error
	if afterID > 0 {
		rows, err = s.query(ctx, `SELECT id, at, lines FROM runtime_log_chunks WHERE app_id = ? AND id >= ? ORDER BY id LIMIT ?`,
			appID, afterID/chunkLines, limit+1)
	} else {
		rows, err = s.query(ctx, `SELECT id, at, lines FROM runtime_log_chunks WHERE app_id = ? ORDER BY id DESC LIMIT ?`,
			appID, limit)
	}
	if err != nil {
		return nil, wrapErr(err, "list runtime logs of app %s", appID)
	}
	defer rows.Close()
	var chunks [][]RuntimeLogLine // newest first, when afterID == 0
	total := 0
	for rows.Next() && total < limit {
		var id, at int64
		var data string
		if err := rows.Scan(&id, &at, &data); err != nil {
			return nil, wrapErr(err, "list runtime logs of app %s", appID)
		}
		from := 0
		if afterID > 0 && id == afterID/chunkLines {
			from = int(afterID%chunkLines) + 1
		}
		ls, err := decodeChunk(nil, appID, id, at, data, from)
		if err != nil {
			return nil, wrapErr(err, "list runtime logs of app %s", appID)
		}
		chunks = append(chunks, ls)
		total += len(ls)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr(err, "list runtime logs of app %s", appID)
	}
	if afterID > 0 {
		for _, ls := range chunks {
			out = append(out, ls...)
		}
		return out[:min(len(out), limit)], nil
	}
	for _, ls := range slices.Backward(chunks) {
		out = append(out, ls...)
	}
	return out[max(0, len(out)-limit):], nil
}

// PruneRuntimeLogs applies the retention policy: lines older than
// olderThan go, and so does everything but the newest keepPerApp lines of
// each app (keepPerApp <= 0: no per-app cap). Both limits bound disk use:
// the first for quiet apps, the second for chatty ones.
//
// Both work a whole chunk at a time, so a few more lines may stay: a chunk
// goes by age when its newest line and every chunk stored before it are
// older than olderThan (a chunk's time is never later than when it was
// stored, so everything stored before olderThan goes, found in id order
// without an index on time), and by count when the newer chunks of its
// app already hold keepPerApp lines.
func (s *Store) PruneRuntimeLogs(ctx context.Context, olderThan time.Time, keepPerApp int) error {
	if _, err := s.exec(ctx, `DELETE FROM runtime_log_chunks WHERE id < COALESCE(
		(SELECT id FROM runtime_log_chunks WHERE at >= ? ORDER BY id LIMIT 1),
		(SELECT MAX(id) + 1 FROM runtime_log_chunks))`, ms(olderThan)); err != nil {
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
		_, err := s.exec(ctx, `DELETE FROM runtime_log_chunks WHERE app_id = ? AND id < (
			SELECT MAX(id) FROM (SELECT id, SUM(n) OVER (ORDER BY id DESC) AS newer
				FROM runtime_log_chunks WHERE app_id = ?) t WHERE newer >= ?)`, app, app, keepPerApp)
		if err != nil {
			return wrapErr(err, "prune runtime logs of app %s", app)
		}
	}
	return nil
}

// deleteRuntimeLogs deletes the logs of the apps that where selects
// (runtime_log_chunks has no foreign key: the ingest writer checks apps
// once per batch).
func deleteRuntimeLogs(ctx context.Context, tx *sql.Tx, s *Store, where string, args ...any) error {
	_, err := tx.ExecContext(ctx, s.q(`DELETE FROM runtime_log_chunks WHERE app_id IN (SELECT id FROM apps WHERE `+where+`)`), args...)
	return err
}
