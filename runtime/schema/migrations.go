package schema

// migrations are the schema's versions, in order: migrations[i] is
// version i+1. Never change one that was released; add another at the
// end. The texts are written once for both dialects with three markers:
// {{autoid}} (an auto-increment primary key), {{int}} (INTEGER on SQLite,
// BIGINT on PostgreSQL) and {{bytes}} (BLOB, BYTEA). Times are Unix
// milliseconds and flags 0/1 integers.
//
// legacy names the version a migration had before this list, in the
// version table of the package that ran it (runtime/store's
// flowbot_schema, runtime/outbox's schema_version): Migrate counts it as
// applied on a database of that version.
var migrations = []migration{
	{
		name:   "platform mode: bots, users, conversations, messages, deliveries, attempts, jobs, idempotency keys",
		legacy: legacy{storeTrack, 1},
		sql: `
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
	context       {{bytes}} NOT NULL,
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
	id          {{autoid}},
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
	id              {{autoid}},
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
`,
	},
	{
		name:   "platform mode: the webhook's body format and Authorization header",
		legacy: legacy{storeTrack, 2},
		sql: `
ALTER TABLE conversations ADD COLUMN webhook_format TEXT NOT NULL DEFAULT 'chat';
ALTER TABLE conversations ADD COLUMN webhook_auth TEXT NOT NULL DEFAULT '';
`,
	},
	{
		name:   "platform mode: where a bot's Botpress-style conversations get their replies",
		legacy: legacy{storeTrack, 3},
		sql: `
ALTER TABLE bots ADD COLUMN response_endpoint TEXT NOT NULL DEFAULT '';
`,
	},
	{
		name:   "platform mode: timing settings of bots and conversations, timers (named jobs)",
		legacy: legacy{storeTrack, 4},
		sql: `
ALTER TABLE bots ADD COLUMN timing TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN timing TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN timer TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX jobs_timer ON jobs (conversation_id, timer) WHERE timer <> '';
`,
	},
	{
		name:   "Userlike mode: jobs, pushes and the attempt log",
		legacy: legacy{outboxTrack, 1},
		sql: `
CREATE TABLE outbox_jobs (
	id           {{autoid}},
	bot          TEXT    NOT NULL,
	flow_version TEXT    NOT NULL,
	cid          TEXT    NOT NULL,
	channel      TEXT    NOT NULL,
	seq          {{int}} NOT NULL,
	parent_id    {{int}},
	context      {{bytes}}    NOT NULL,
	contact      {{bytes}},
	job          {{bytes}}    NOT NULL,
	state        TEXT    NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'superseded')),
	attempts     {{int}} NOT NULL DEFAULT 0,
	claim        {{int}} NOT NULL DEFAULT 0,
	lease_until  {{int}} NOT NULL DEFAULT 0,
	error        TEXT    NOT NULL DEFAULT '',
	created_at   {{int}} NOT NULL,
	updated_at   {{int}} NOT NULL
);
CREATE INDEX outbox_jobs_open ON outbox_jobs (id) WHERE state IN ('pending', 'running');
CREATE INDEX outbox_jobs_conversation ON outbox_jobs (cid, seq);
CREATE INDEX outbox_jobs_parent ON outbox_jobs (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX outbox_jobs_finished ON outbox_jobs (updated_at) WHERE state IN ('done', 'failed', 'superseded');

CREATE TABLE outbox_pushes (
	id          {{autoid}},
	push_id     TEXT    NOT NULL UNIQUE,
	job_id      {{int}},
	bot         TEXT    NOT NULL,
	cid         TEXT    NOT NULL,
	events      {{bytes}}    NOT NULL,
	n_events    {{int}} NOT NULL,
	state       TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'superseded')),
	attempts    {{int}} NOT NULL DEFAULT 0,
	claim       {{int}} NOT NULL DEFAULT 0,
	next_at     {{int}} NOT NULL,
	lease_until {{int}} NOT NULL DEFAULT 0,
	last_status {{int}} NOT NULL DEFAULT 0,
	error       TEXT    NOT NULL DEFAULT '',
	created_at  {{int}} NOT NULL,
	updated_at  {{int}} NOT NULL,
	sent_at     {{int}} NOT NULL DEFAULT 0
);
CREATE INDEX outbox_pushes_pending ON outbox_pushes (cid, id) WHERE state = 'pending';
CREATE INDEX outbox_pushes_job ON outbox_pushes (job_id);
CREATE INDEX outbox_pushes_finished ON outbox_pushes (updated_at) WHERE state IN ('sent', 'failed', 'superseded');

CREATE TABLE outbox_push_attempts (
	id       {{autoid}},
	cid      TEXT    NOT NULL,
	at       {{int}} NOT NULL,
	push_ids TEXT    NOT NULL,
	status   {{int}} NOT NULL DEFAULT 0,
	outcome  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX outbox_push_attempts_at ON outbox_push_attempts (at);
`,
	},
	{
		name:   "Userlike mode: follow-up timers, one per conversation; pushes they make are follow-ups",
		legacy: legacy{outboxTrack, 2},
		sql: `
CREATE TABLE outbox_timers (
	bot          TEXT    NOT NULL,
	cid          TEXT    NOT NULL,
	flow_version TEXT    NOT NULL,
	channel      TEXT    NOT NULL,
	contact      {{bytes}},
	state        TEXT    NOT NULL,
	rule         {{int}} NOT NULL,
	due_at       {{int}} NOT NULL,
	base         {{int}} NOT NULL,
	context      {{bytes}}    NOT NULL,
	context_hash TEXT    NOT NULL,
	attempts     {{int}} NOT NULL DEFAULT 0,
	claim        {{int}} NOT NULL DEFAULT 0,
	lease_until  {{int}} NOT NULL DEFAULT 0,
	created_at   {{int}} NOT NULL,
	updated_at   {{int}} NOT NULL,
	PRIMARY KEY (bot, cid)
);
CREATE INDEX outbox_timers_due ON outbox_timers (due_at);
CREATE INDEX outbox_timers_leased ON outbox_timers (lease_until) WHERE lease_until > 0;
ALTER TABLE outbox_pushes ADD COLUMN follow_up {{int}} NOT NULL DEFAULT 0;
`,
	},
	{
		name:   "Userlike mode: when a timer's rule was due before quiet hours moved it",
		legacy: legacy{outboxTrack, 3},
		sql: `
ALTER TABLE outbox_timers ADD COLUMN planned {{int}} NOT NULL DEFAULT 0;
`,
	},
	{
		name:   "Userlike mode: the attempt log by conversation; pushes that go alone",
		legacy: legacy{outboxTrack, 5},
		sql: `
CREATE INDEX outbox_push_attempts_cid ON outbox_push_attempts (cid, at);
ALTER TABLE outbox_pushes ADD COLUMN solo {{int}} NOT NULL DEFAULT 0;
CREATE INDEX outbox_pushes_leased ON outbox_pushes (cid) WHERE lease_until > 0;
`,
	},
	{
		name:   "flow versions served, so that conversations continue on their version (runtime/flowset)",
		legacy: legacy{},
		sql: `
CREATE TABLE IF NOT EXISTS flow_versions (
	name         TEXT    NOT NULL,
	hash         TEXT    NOT NULL,
	file         TEXT    NOT NULL,
	source       {{bytes}}    NOT NULL,
	first_served INTEGER NOT NULL,
	PRIMARY KEY (name, hash)
);
`,
	},
}
