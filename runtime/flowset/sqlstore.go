package flowset

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/flowbot/flowbot/runtime/schema"
)

// SQLStore keeps flow versions in an SQLite or PostgreSQL database (the
// server's data file, or the database its instances share), so that
// conversations on an earlier version survive restarts and continue on
// that version on every instance.
type SQLStore struct {
	db       *sql.DB
	postgres bool
}

// NewSQLStore keeps flow versions in an SQLite database, migrating its
// schema (runtime/schema) if needed.
func NewSQLStore(ctx context.Context, db *sql.DB) (*SQLStore, error) {
	return newSQLStore(ctx, db, false)
}

// NewPostgresStore is NewSQLStore for a PostgreSQL database.
func NewPostgresStore(ctx context.Context, db *sql.DB) (*SQLStore, error) {
	return newSQLStore(ctx, db, true)
}

func newSQLStore(ctx context.Context, db *sql.DB, postgres bool) (*SQLStore, error) {
	if err := schema.Migrate(ctx, db, postgres); err != nil {
		return nil, fmt.Errorf("flow versions: %w", err)
	}
	return &SQLStore{db: db, postgres: postgres}, nil
}

// q spells query's placeholders for the database.
func (s *SQLStore) q(query string) string {
	return schema.Spell(query, s.postgres)
}

// SaveVersion records a version once; its first-served order is kept.
func (s *SQLStore) SaveVersion(ctx context.Context, v Version) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO flow_versions (name, hash, file, source, first_served)
		VALUES (?, ?, ?, ?, (SELECT COALESCE(MAX(first_served), 0) + 1 FROM flow_versions))
		ON CONFLICT (name, hash) DO NOTHING`), v.Name, v.Hash, v.File, v.Source)
	return err
}

// Versions returns a flow's versions, oldest first.
func (s *SQLStore) Versions(ctx context.Context, name string) ([]Version, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT name, hash, file, source FROM flow_versions WHERE name = ? ORDER BY first_served, hash`), name)
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
