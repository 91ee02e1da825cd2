-- store-sqlite-2.sql: a migration as flowbot wrote it before runtime/schema (main at ad4c80a), verbatim.

ALTER TABLE conversations ADD COLUMN webhook_format TEXT NOT NULL DEFAULT 'chat';
ALTER TABLE conversations ADD COLUMN webhook_auth TEXT NOT NULL DEFAULT '';
;
