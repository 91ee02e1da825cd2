-- store-sqlite-4.sql: a migration as flowbot wrote it before runtime/schema (main at ad4c80a), verbatim.

ALTER TABLE bots ADD COLUMN timing TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN timing TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN timer TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX jobs_timer ON jobs (conversation_id, timer) WHERE timer <> '';
;
