// Package schema is flowbot's one database schema and its one migration
// runner: every table of both modes — platform mode's (runtime/store),
// Userlike mode's outbox (runtime/outbox) and the flow versions
// (runtime/flowset) — is created and changed by the one list in
// migrations.go, recorded in one version table, flowbot_migrations, on
// SQLite and on PostgreSQL alike. Each package that opens a database calls
// Migrate; the first brings the schema up to date, the others find
// nothing to do.
//
// flowbot_migrations has one row per applied migration (its version, its
// name, when). A database written before this package kept two version
// counters (runtime/store's flowbot_schema, runtime/outbox's
// schema_version); Migrate adopts them once, in place: it records the
// migrations they had applied, renames an old SQLite outbox's tables to
// the names they have had on PostgreSQL from the start, drops the two
// counters and goes on from there.
//
// The stores' queries are written once too, with ? placeholders; Spell
// writes them for PostgreSQL.
package schema

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Version is the newest schema version this flowbot knows: the number of
// migrations.
var Version = len(migrations)

// migration is one step of the schema.
type migration struct {
	name   string
	legacy legacy
	sql    string
}

// legacy is a migration's version in a version table before this package
// (track empty: it had none).
type legacy struct {
	track   string
	version int
}

// The legacy version tables.
const (
	storeTrack  = "flowbot_schema"
	outboxTrack = "schema_version"
)

// lockKey is the PostgreSQL advisory lock that serializes migrations of
// instances starting at once (runtime/store's before this package).
const lockKey = 7243100163

var (
	sqliteTypes   = strings.NewReplacer("{{autoid}}", "INTEGER PRIMARY KEY AUTOINCREMENT", "{{int}}", "INTEGER", "{{bytes}}", "BLOB")
	postgresTypes = strings.NewReplacer("{{autoid}}", "BIGSERIAL PRIMARY KEY", "{{int}}", "BIGINT", "{{bytes}}", "BYTEA")
)

// SQL is migration version's text in a dialect (for tests and for
// reading).
func SQL(version int, postgres bool) string {
	m := migrations[version-1]
	if postgres {
		return postgresTypes.Replace(m.sql)
	}
	return sqliteTypes.Replace(m.sql)
}

// Migrate brings db's schema to Version in one transaction: under an
// advisory lock on PostgreSQL, and on SQLite in a write transaction (the
// stores open theirs immediate), so that processes opening one database
// at once do not both apply a step. A database of a newer flowbot is
// refused.
func Migrate(ctx context.Context, db *sql.DB, postgres bool) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	r := runner{tx: tx, postgres: postgres}
	if postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(`+strconv.Itoa(lockKey)+`)`); err != nil {
			return err
		}
	}
	applied, err := r.applied(ctx)
	if err != nil {
		return err
	}
	for v, m := range migrations {
		version := v + 1
		if applied[version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, r.spell(m.sql)); err != nil {
			return fmt.Errorf("migration %d (%s): %w", version, m.name, err)
		}
		if err := r.record(ctx, version, m.name); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Applied returns the versions applied to db, in order.
func Applied(ctx context.Context, db *sql.DB) ([]int, error) {
	rows, err := db.QueryContext(ctx, `SELECT version FROM flowbot_migrations ORDER BY version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// runner runs the queries of one Migrate.
type runner struct {
	tx       *sql.Tx
	postgres bool
}

func (r runner) spell(q string) string {
	if r.postgres {
		return postgresTypes.Replace(q)
	}
	return sqliteTypes.Replace(q)
}

// applied reads the versions applied, creating the version table (and
// adopting the legacy counters) on a database that has none.
func (r runner) applied(ctx context.Context) (map[int]bool, error) {
	has, err := r.hasTable(ctx, "flowbot_migrations")
	if err != nil {
		return nil, err
	}
	if !has {
		if _, err := r.tx.ExecContext(ctx, `CREATE TABLE flowbot_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at BIGINT  NOT NULL
)`); err != nil {
			return nil, err
		}
		if err := r.adopt(ctx); err != nil {
			return nil, err
		}
	}
	rows, err := r.tx.QueryContext(ctx, `SELECT version FROM flowbot_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	applied := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		if v > len(migrations) {
			return nil, fmt.Errorf("the database has schema version %d; this flowbot knows up to %d (was it written by a newer flowbot? upgrade flowbot)", v, len(migrations))
		}
		applied[v] = true
	}
	return applied, rows.Err()
}

// adopt records the migrations the legacy version tables say were applied
// and drops them.
func (r runner) adopt(ctx context.Context) error {
	have := map[string]int{}
	for track, known := range map[string]int{storeTrack: 4, outboxTrack: 5} {
		v, err := r.legacyVersion(ctx, track)
		if err != nil {
			return err
		}
		if v > known {
			return fmt.Errorf("the database has schema version %d in %s; this flowbot knows up to %d (was it written by a newer flowbot? upgrade flowbot)", v, track, known)
		}
		have[track] = v
	}
	// An SQLite outbox before its version 4 has the tables' first names.
	if o := have[outboxTrack]; !r.postgres && o >= 1 && o < 4 {
		renames := []string{"jobs", "pushes", "push_attempts"}
		if o >= 2 {
			renames = append(renames, "timers")
		}
		for _, t := range renames {
			if _, err := r.tx.ExecContext(ctx, `ALTER TABLE `+t+` RENAME TO outbox_`+t); err != nil {
				return fmt.Errorf("rename the outbox's %s: %w", t, err)
			}
		}
	}
	for v, m := range migrations {
		if m.legacy.track != "" && m.legacy.version <= have[m.legacy.track] {
			if err := r.record(ctx, v+1, m.name); err != nil {
				return err
			}
		}
	}
	for _, track := range []string{storeTrack, outboxTrack} {
		if _, err := r.tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+track); err != nil {
			return err
		}
	}
	return nil
}

// legacyVersion is the version in a legacy version table; 0 without one.
func (r runner) legacyVersion(ctx context.Context, table string) (int, error) {
	has, err := r.hasTable(ctx, table)
	if err != nil || !has {
		return 0, err
	}
	v := 0
	err = r.tx.QueryRowContext(ctx, `SELECT version FROM `+table).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	return v, err
}

// hasTable reports whether the database has the table (on PostgreSQL, in
// the search path).
func (r runner) hasTable(ctx context.Context, name string) (bool, error) {
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	if r.postgres {
		q = `SELECT COUNT(*) FROM (SELECT to_regclass($1) AS t) r WHERE t IS NOT NULL`
	}
	var n int
	err := r.tx.QueryRowContext(ctx, q, name).Scan(&n)
	return n > 0, err
}

// record writes that a version was applied.
func (r runner) record(ctx context.Context, version int, name string) error {
	q := Spell(`INSERT INTO flowbot_migrations (version, name, applied_at) VALUES (?, ?, ?)`, r.postgres)
	_, err := r.tx.ExecContext(ctx, q, version, name, time.Now().UnixMilli())
	return err
}

// Spell writes a query of flowbot's, written once with ? placeholders, in
// a dialect: on PostgreSQL the placeholders become $1, $2… (SQLite takes
// the text as it is). The stores cache what it returns.
func Spell(query string, postgres bool) string {
	if !postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] != '?' {
			b.WriteByte(query[i])
			continue
		}
		n++
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}
