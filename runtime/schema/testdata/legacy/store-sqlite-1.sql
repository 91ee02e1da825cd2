-- store-sqlite-1.sql: a migration as flowbot wrote it before runtime/schema (main at ad4c80a), verbatim.

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
	context       BLOB  NOT NULL,
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
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
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
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
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
;
