-- store-sqlite-3.sql: a migration as flowbot wrote it before runtime/schema (main at ad4c80a), verbatim.

ALTER TABLE bots ADD COLUMN response_endpoint TEXT NOT NULL DEFAULT '';
;
