-- outbox-sqlite-5.sql: a migration as flowbot wrote it before runtime/schema (main at ad4c80a), verbatim.

CREATE INDEX outbox_push_attempts_cid ON outbox_push_attempts (cid, at);
ALTER TABLE outbox_pushes ADD COLUMN solo INTEGER NOT NULL DEFAULT 0;
CREATE INDEX outbox_pushes_leased ON outbox_pushes (cid) WHERE lease_until > 0;
;
