-- outbox-postgres-2.sql: a migration as flowbot wrote it before runtime/schema (main at ad4c80a), verbatim.

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
;
