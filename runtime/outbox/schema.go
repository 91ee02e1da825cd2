package outbox

import (
	"context"
	"fmt"
	"strings"
)

// migrations are the schema's versions, in order: migrations[i] takes the
// schema from version i to i+1. Never change one that was released; add
// another.
var migrations = []string{
	// 1: jobs, pushes and the attempt log.
	`
CREATE TABLE {{p}}jobs (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	bot          TEXT    NOT NULL,
	flow_version TEXT    NOT NULL,
	cid          TEXT    NOT NULL,
	channel      TEXT    NOT NULL,
	seq          INTEGER NOT NULL,
	parent_id    INTEGER,
	context      BLOB    NOT NULL,
	contact      BLOB,
	job          BLOB    NOT NULL,
	state        TEXT    NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'superseded')),
	attempts     INTEGER NOT NULL DEFAULT 0,
	claim        INTEGER NOT NULL DEFAULT 0,
	lease_until  INTEGER NOT NULL DEFAULT 0,
	error        TEXT    NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL
);
CREATE INDEX {{p}}jobs_open ON {{p}}jobs (id) WHERE state IN ('pending', 'running');
CREATE INDEX {{p}}jobs_conversation ON {{p}}jobs (cid, seq);
CREATE INDEX {{p}}jobs_parent ON {{p}}jobs (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX {{p}}jobs_finished ON {{p}}jobs (updated_at) WHERE state IN ('done', 'failed', 'superseded');

CREATE TABLE {{p}}pushes (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	push_id     TEXT    NOT NULL UNIQUE,
	job_id      INTEGER,
	bot         TEXT    NOT NULL,
	cid         TEXT    NOT NULL,
	events      BLOB    NOT NULL,
	n_events    INTEGER NOT NULL,
	state       TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'superseded')),
	attempts    INTEGER NOT NULL DEFAULT 0,
	claim       INTEGER NOT NULL DEFAULT 0,
	next_at     INTEGER NOT NULL,
	lease_until INTEGER NOT NULL DEFAULT 0,
	last_status INTEGER NOT NULL DEFAULT 0,
	error       TEXT    NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	sent_at     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX {{p}}pushes_pending ON {{p}}pushes (cid, id) WHERE state = 'pending';
CREATE INDEX {{p}}pushes_job ON {{p}}pushes (job_id);
CREATE INDEX {{p}}pushes_finished ON {{p}}pushes (updated_at) WHERE state IN ('sent', 'failed', 'superseded');

CREATE TABLE {{p}}push_attempts (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	cid      TEXT    NOT NULL,
	at       INTEGER NOT NULL,
	push_ids TEXT    NOT NULL,
	status   INTEGER NOT NULL DEFAULT 0,
	outcome  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX {{p}}push_attempts_at ON {{p}}push_attempts (at);
`,
	// 2: follow-up timers (on_silence), one per conversation, and the mark
	// on the pushes they make (activity supersedes them while pending).
	`
CREATE TABLE {{p}}timers (
	bot          TEXT    NOT NULL,
	cid          TEXT    NOT NULL,
	flow_version TEXT    NOT NULL,
	channel      TEXT    NOT NULL,
	contact      BLOB,
	state        TEXT    NOT NULL,
	rule         INTEGER NOT NULL,
	due_at       INTEGER NOT NULL,
	base         INTEGER NOT NULL,
	context      BLOB    NOT NULL,
	context_hash TEXT    NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	claim        INTEGER NOT NULL DEFAULT 0,
	lease_until  INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	PRIMARY KEY (bot, cid)
);
CREATE INDEX {{p}}timers_due ON {{p}}timers (due_at);
CREATE INDEX {{p}}timers_leased ON {{p}}timers (lease_until) WHERE lease_until > 0;
ALTER TABLE {{p}}pushes ADD COLUMN follow_up INTEGER NOT NULL DEFAULT 0;
`,
	// 3: when a timer's rule was due before quiet hours moved it (0: at
	// due_at, as for the timers armed before).
	`
ALTER TABLE {{p}}timers ADD COLUMN planned INTEGER NOT NULL DEFAULT 0;
`,
	// 4: the tables take the names they have on PostgreSQL, where they
	// share a database with platform mode's (runtime/store).
	`{{rename}}`,
	// 5: the attempt log by conversation (the rate limit that instances
	// sharing a database count together), and pushes that go alone (a
	// request of several was refused).
	`
CREATE INDEX outbox_push_attempts_cid ON outbox_push_attempts (cid, at);
ALTER TABLE outbox_pushes ADD COLUMN solo INTEGER NOT NULL DEFAULT 0;
CREATE INDEX outbox_pushes_leased ON outbox_pushes (cid) WHERE lease_until > 0;
`,
}

// renames are migration 4 on SQLite: the names the tables have had from
// the start on PostgreSQL.
const renames = `
ALTER TABLE jobs RENAME TO outbox_jobs;
ALTER TABLE pushes RENAME TO outbox_pushes;
ALTER TABLE push_attempts RENAME TO outbox_push_attempts;
ALTER TABLE timers RENAME TO outbox_timers;
`

var (
	sqliteMigrations   = spell(migrations, strings.NewReplacer("{{p}}", "", "{{rename}}", renames))
	postgresMigrations = spell(migrations, strings.NewReplacer("{{p}}", "outbox_", "{{rename}}", "SELECT 1",
		"INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY", "INTEGER", "BIGINT", "BLOB", "BYTEA"))
)

// spell writes the migrations in one dialect.
func spell(ms []string, r *strings.Replacer) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = r.Replace(m)
	}
	return out
}

// SchemaVersion is the schema version this package writes.
var SchemaVersion = len(migrations)

// migrate brings the schema to SchemaVersion, one transaction per step;
// the version is read inside each step's transaction (immediate on
// SQLite, under an advisory lock on PostgreSQL), so that two processes
// opening one database at once do not both apply a step.
func (s *Store) migrate(ctx context.Context) error {
	ms := sqliteMigrations
	if s.d.postgres {
		ms = postgresMigrations
	}
	for {
		done, err := s.migrateStep(ctx, ms)
		if err != nil || done {
			return err
		}
	}
}

func (s *Store) migrateStep(ctx context.Context, ms []string) (done bool, err error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if s.d.postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7243100164)`); err != nil {
			return false, err
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM schema_version)`); err != nil {
		return false, err
	}
	var v int
	if err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil {
		return false, err
	}
	if v > len(ms) {
		return false, fmt.Errorf("the outbox has schema version %d; this flowbot knows up to %d (was it written by a newer flowbot?)", v, len(ms))
	}
	if v == len(ms) {
		return true, tx.Commit()
	}
	// A migration of several statements goes as one text (no arguments).
	if _, err := tx.t.ExecContext(ctx, ms[v]); err != nil {
		return false, fmt.Errorf("migration %d: %w", v+1, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, v+1); err != nil {
		return false, err
	}
	return false, tx.Commit()
}
