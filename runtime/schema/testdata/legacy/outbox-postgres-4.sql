-- outbox-postgres-4.sql: a migration as flowbot wrote it before runtime/schema (main at ad4c80a), verbatim.
SELECT 1;
