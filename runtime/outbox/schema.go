package outbox

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are the schema's versions, in order: migrations[i] takes the
// schema from version i to i+1. Never change one that was released; add
// another.
var migrations = []string{
	// 1: jobs, pushes and the attempt log.
	`
CREATE TABLE jobs (
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
CREATE INDEX jobs_open ON jobs (id) WHERE state IN ('pending', 'running');
CREATE INDEX jobs_conversation ON jobs (cid, seq);
CREATE INDEX jobs_parent ON jobs (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX jobs_finished ON jobs (updated_at) WHERE state IN ('done', 'failed', 'superseded');

CREATE TABLE pushes (
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
CREATE INDEX pushes_pending ON pushes (cid, id) WHERE state = 'pending';
CREATE INDEX pushes_job ON pushes (job_id);
CREATE INDEX pushes_finished ON pushes (updated_at) WHERE state IN ('sent', 'failed', 'superseded');

CREATE TABLE push_attempts (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	cid      TEXT    NOT NULL,
	at       INTEGER NOT NULL,
	push_ids TEXT    NOT NULL,
	status   INTEGER NOT NULL DEFAULT 0,
	outcome  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX push_attempts_at ON push_attempts (at);
`,
	// 2: follow-up timers (on_silence), one per conversation, and the mark
	// on the pushes they make (activity supersedes them while pending).
	`
CREATE TABLE timers (
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
CREATE INDEX timers_due ON timers (due_at);
CREATE INDEX timers_leased ON timers (lease_until) WHERE lease_until > 0;
ALTER TABLE pushes ADD COLUMN follow_up INTEGER NOT NULL DEFAULT 0;
`,
	// 3: when a timer's rule was due before quiet hours moved it (0: at
	// due_at, as for the timers armed before).
	`
ALTER TABLE timers ADD COLUMN planned INTEGER NOT NULL DEFAULT 0;
`,
}

// SchemaVersion is the schema version this package writes.
var SchemaVersion = len(migrations)

// migrate brings the schema to SchemaVersion, one transaction per step;
// the version is read inside each step's (immediate) transaction, so that
// two processes opening one file at once do not both apply a step.
func migrate(ctx context.Context, db *sql.DB) error {
	for {
		done, err := migrateStep(ctx, db)
		if err != nil || done {
			return err
		}
	}
}

func migrateStep(ctx context.Context, db *sql.DB) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM schema_version)`); err != nil {
		return false, err
	}
	var v int
	if err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil {
		return false, err
	}
	if v > len(migrations) {
		return false, fmt.Errorf("the data file has schema version %d; this flowbot knows up to %d (was it written by a newer flowbot?)", v, len(migrations))
	}
	if v == len(migrations) {
		return true, tx.Commit()
	}
	if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
		return false, fmt.Errorf("migration %d: %w", v+1, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, v+1); err != nil {
		return false, err
	}
	return false, tx.Commit()
}
