package store

import (
	"context"
	"database/sql"
)

// rowsPerInsert bounds a multi-row INSERT: a few parameters a row keep far
// below both databases' parameter limits while amortising round trips.
const rowsPerInsert = 250

// existingApps returns which of the apps referenced by n rows still exist:
// a worker may report stats for an app deleted a moment ago, and one such
// row must not fail the whole batch on the foreign key.
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
