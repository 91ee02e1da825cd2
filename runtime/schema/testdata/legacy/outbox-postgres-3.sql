-- outbox-postgres-3.sql: a migration as flowbot wrote it before runtime/schema (main at ad4c80a), verbatim.

ALTER TABLE outbox_timers ADD COLUMN planned BIGINT NOT NULL DEFAULT 0;
;
