-- outbox-postgres-1.sql: a migration as flowbot wrote it before runtime/schema (main at ad4c80a), verbatim.

CREATE TABLE outbox_jobs (
	id           BIGSERIAL PRIMARY KEY,
	bot          TEXT    NOT NULL,
	flow_version TEXT    NOT NULL,
	cid          TEXT    NOT NULL,
	channel      TEXT    NOT NULL,
	seq          BIGINT NOT NULL,
	parent_id    BIGINT,
	context      BYTEA    NOT NULL,
	contact      BYTEA,
	job          BYTEA    NOT NULL,
	state        TEXT    NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'superseded')),
	attempts     BIGINT NOT NULL DEFAULT 0,
	claim        BIGINT NOT NULL DEFAULT 0,
	lease_until  BIGINT NOT NULL DEFAULT 0,
	error        TEXT    NOT NULL DEFAULT '',
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL
);
CREATE INDEX outbox_jobs_open ON outbox_jobs (id) WHERE state IN ('pending', 'running');
CREATE INDEX outbox_jobs_conversation ON outbox_jobs (cid, seq);
CREATE INDEX outbox_jobs_parent ON outbox_jobs (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX outbox_jobs_finished ON outbox_jobs (updated_at) WHERE state IN ('done', 'failed', 'superseded');

CREATE TABLE outbox_pushes (
	id          BIGSERIAL PRIMARY KEY,
	push_id     TEXT    NOT NULL UNIQUE,
	job_id      BIGINT,
	bot         TEXT    NOT NULL,
	cid         TEXT    NOT NULL,
	events      BYTEA    NOT NULL,
	n_events    BIGINT NOT NULL,
	state       TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'superseded')),
	attempts    BIGINT NOT NULL DEFAULT 0,
	claim       BIGINT NOT NULL DEFAULT 0,
	next_at     BIGINT NOT NULL,
	lease_until BIGINT NOT NULL DEFAULT 0,
	last_status BIGINT NOT NULL DEFAULT 0,
	error       TEXT    NOT NULL DEFAULT '',
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	sent_at     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX outbox_pushes_pending ON outbox_pushes (cid, id) WHERE state = 'pending';
CREATE INDEX outbox_pushes_job ON outbox_pushes (job_id);
CREATE INDEX outbox_pushes_finished ON outbox_pushes (updated_at) WHERE state IN ('sent', 'failed', 'superseded');

CREATE TABLE outbox_push_attempts (
	id       BIGSERIAL PRIMARY KEY,
	cid      TEXT    NOT NULL,
	at       BIGINT NOT NULL,
	push_ids TEXT    NOT NULL,
	status   BIGINT NOT NULL DEFAULT 0,
	outcome  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX outbox_push_attempts_at ON outbox_push_attempts (at);
;
