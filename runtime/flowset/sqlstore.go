package flowset

import (
	"context"
	"database/sql"
	"fmt"
)

// SQLStore keeps flow versions in an SQLite database (the server's data
// file), so conversations on an earlier version survive restarts.
type SQLStore struct{ db *sql.DB }

// NewSQLStore creates the versions table if needed.
func NewSQLStore(ctx context.Context, db *sql.DB) (*SQLStore, error) {
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS flow_versions (
		name TEXT NOT NULL,
		hash TEXT NOT NULL,
		file TEXT NOT NULL,
		source BLOB NOT NULL,
		first_served INTEGER NOT NULL,
		PRIMARY KEY (name, hash))`)
	if err != nil {
		return nil, fmt.Errorf("create flow_versions: %w", err)
	}
	return &SQLStore{db: db}, nil
}

// SaveVersion records a version once; its first-served order is kept.
func (s *SQLStore) SaveVersion(ctx context.Context, v Version) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO flow_versions (name, hash, file, source, first_served)
		VALUES (?, ?, ?, ?, (SELECT COALESCE(MAX(first_served), 0) + 1 FROM flow_versions))
		ON CONFLICT (name, hash) DO NOTHING`, v.Name, v.Hash, v.File, v.Source)
	return err
}

// Versions returns a flow's versions, oldest first.
func (s *SQLStore) Versions(ctx context.Context, name string) ([]Version, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, hash, file, source FROM flow_versions WHERE name = ? ORDER BY first_served`, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		var v Version
		if err := rows.Scan(&v.Name, &v.Hash, &v.File, &v.Source); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
