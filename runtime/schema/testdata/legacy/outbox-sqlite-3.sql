-- outbox-sqlite-3.sql: a migration as flowbot wrote it before runtime/schema (main at ad4c80a), verbatim.

ALTER TABLE timers ADD COLUMN planned INTEGER NOT NULL DEFAULT 0;
;
