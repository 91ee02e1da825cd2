-- a PostgreSQL database both modes share: the store at version 4, the outbox at 5, flow versions
-- Written by flowbot before runtime/schema (main at ad4c80a): the legacy migrations verbatim.

CREATE TABLE bots (
	id         TEXT   PRIMARY KEY,
	name       TEXT   NOT NULL,
	flow       TEXT   NOT NULL,
	freeform   TEXT   NOT NULL,
	attributes TEXT   NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE TABLE users (
	id         TEXT   PRIMARY KEY,
	created_at BIGINT NOT NULL
);
CREATE TABLE conversations (
	id            TEXT   PRIMARY KEY,
	bot_id        TEXT   NOT NULL REFERENCES bots (id),
	user_id       TEXT   NOT NULL REFERENCES users (id),
	channel       TEXT   NOT NULL,
	webhook       TEXT   NOT NULL,
	context       BYTEA  NOT NULL,
	status        TEXT   NOT NULL,
	contact       TEXT   NOT NULL,
	next_seq      BIGINT NOT NULL,
	created_at    BIGINT NOT NULL,
	updated_at    BIGINT NOT NULL,
	UNIQUE (bot_id, user_id)
);
CREATE TABLE messages (
	id              TEXT    PRIMARY KEY,
	conversation_id TEXT    NOT NULL REFERENCES conversations (id),
	seq             BIGINT  NOT NULL,
	from_bot        INTEGER NOT NULL,
	text            TEXT    NOT NULL,
	media_url       TEXT    NOT NULL,
	created_at      BIGINT  NOT NULL,
	sent_at         BIGINT  NOT NULL,
	UNIQUE (conversation_id, seq)
);
CREATE TABLE deliveries (
	message_id      TEXT    PRIMARY KEY REFERENCES messages (id),
	conversation_id TEXT    NOT NULL,
	seq             BIGINT  NOT NULL,
	state           TEXT    NOT NULL CHECK (state IN ('pending', 'delivered')),
	attempts        INTEGER NOT NULL DEFAULT 0,
	due_at          BIGINT  NOT NULL,
	lease_owner     TEXT    NOT NULL DEFAULT '',
	lease_until     BIGINT  NOT NULL DEFAULT 0,
	last_status     INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT    NOT NULL DEFAULT '',
	delivered_at    BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX deliveries_head ON deliveries (conversation_id, seq) WHERE state = 'pending';
CREATE INDEX deliveries_due ON deliveries (due_at) WHERE state = 'pending';
CREATE TABLE attempts (
	id          BIGSERIAL PRIMARY KEY,
	message_id  TEXT      NOT NULL,
	at          BIGINT    NOT NULL,
	status      INTEGER   NOT NULL,
	error       TEXT      NOT NULL,
	duration_ms BIGINT    NOT NULL,
	delivered   INTEGER   NOT NULL,
	owner       TEXT      NOT NULL
);
CREATE INDEX attempts_message ON attempts (message_id, id);
CREATE TABLE jobs (
	id              BIGSERIAL PRIMARY KEY,
	conversation_id TEXT      NOT NULL,
	spec            TEXT      NOT NULL,
	due_at          BIGINT    NOT NULL,
	attempts        INTEGER   NOT NULL DEFAULT 0,
	lease_owner     TEXT      NOT NULL DEFAULT '',
	lease_until     BIGINT    NOT NULL DEFAULT 0,
	created_at      BIGINT    NOT NULL
);
CREATE INDEX jobs_due ON jobs (due_at);
CREATE TABLE idempotency_keys (
	conversation_id TEXT   NOT NULL,
	key             TEXT   NOT NULL,
	message_id      TEXT   NOT NULL,
	created_at      BIGINT NOT NULL,
	PRIMARY KEY (conversation_id, key)
);

ALTER TABLE conversations ADD COLUMN webhook_format TEXT NOT NULL DEFAULT 'chat';
ALTER TABLE conversations ADD COLUMN webhook_auth TEXT NOT NULL DEFAULT '';

ALTER TABLE bots ADD COLUMN response_endpoint TEXT NOT NULL DEFAULT '';

ALTER TABLE bots ADD COLUMN timing TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN timing TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN timer TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX jobs_timer ON jobs (conversation_id, timer) WHERE timer <> '';
CREATE TABLE flowbot_schema (version INTEGER NOT NULL); INSERT INTO flowbot_schema VALUES (4);

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

CREATE TABLE outbox_timers (
	bot          TEXT    NOT NULL,
	cid          TEXT    NOT NULL,
	flow_version TEXT    NOT NULL,
	channel      TEXT    NOT NULL,
	contact      BYTEA,
	state        TEXT    NOT NULL,
	rule         BIGINT NOT NULL,
	due_at       BIGINT NOT NULL,
	base         BIGINT NOT NULL,
	context      BYTEA    NOT NULL,
	context_hash TEXT    NOT NULL,
	attempts     BIGINT NOT NULL DEFAULT 0,
	claim        BIGINT NOT NULL DEFAULT 0,
	lease_until  BIGINT NOT NULL DEFAULT 0,
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL,
	PRIMARY KEY (bot, cid)
);
CREATE INDEX outbox_timers_due ON outbox_timers (due_at);
CREATE INDEX outbox_timers_leased ON outbox_timers (lease_until) WHERE lease_until > 0;
ALTER TABLE outbox_pushes ADD COLUMN follow_up BIGINT NOT NULL DEFAULT 0;

ALTER TABLE outbox_timers ADD COLUMN planned BIGINT NOT NULL DEFAULT 0;
SELECT 1;
CREATE INDEX outbox_push_attempts_cid ON outbox_push_attempts (cid, at);
ALTER TABLE outbox_pushes ADD COLUMN solo BIGINT NOT NULL DEFAULT 0;
CREATE INDEX outbox_pushes_leased ON outbox_pushes (cid) WHERE lease_until > 0;
; CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (5);
CREATE TABLE IF NOT EXISTS flow_versions (name TEXT NOT NULL, hash TEXT NOT NULL, file TEXT NOT NULL, source BYTEA NOT NULL, first_served INTEGER NOT NULL, PRIMARY KEY (name, hash));
