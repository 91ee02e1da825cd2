-- outbox-sqlite-4.sql: a migration as flowbot wrote it before runtime/schema (main at ad4c80a), verbatim.

ALTER TABLE jobs RENAME TO outbox_jobs;
ALTER TABLE pushes RENAME TO outbox_pushes;
ALTER TABLE push_attempts RENAME TO outbox_push_attempts;
ALTER TABLE timers RENAME TO outbox_timers;
;
