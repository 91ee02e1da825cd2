-- flow_versions-sqlite.sql: the table as runtime/flowset created it before runtime/schema (main at ad4c80a), verbatim.
CREATE TABLE IF NOT EXISTS flow_versions (
		name TEXT NOT NULL,
		hash TEXT NOT NULL,
		file TEXT NOT NULL,
		source BLOB NOT NULL,
		first_served INTEGER NOT NULL,
		PRIMARY KEY (name, hash));
