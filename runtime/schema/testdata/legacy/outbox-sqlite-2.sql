-- outbox-sqlite-2.sql: a migration as flowbot wrote it before runtime/schema (main at ad4c80a), verbatim.

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
;
