-- outbox-sqlite-1.sql: a migration as flowbot wrote it before runtime/schema (main at ad4c80a), verbatim.

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
;
