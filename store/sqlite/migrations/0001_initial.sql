-- Times are TEXT in one fixed-width UTC layout (2006-01-02T15:04:05.000000000Z)
-- so they keep nanoseconds, cover years 0000-9999, and compare correctly as
-- plain strings in WHERE and ORDER BY. A NULL time means "not set".
-- Tables are STRICT so a bug that binds the wrong Go type fails loudly instead
-- of being stored silently under SQLite's type affinity.

CREATE TABLE users (
	id             TEXT    NOT NULL PRIMARY KEY,
	email          TEXT    NOT NULL UNIQUE,
	email_verified INTEGER NOT NULL CHECK (email_verified IN (0, 1)),
	name           TEXT    NOT NULL,
	password_hash  TEXT    NOT NULL,
	status         TEXT    NOT NULL,
	enabled        INTEGER NOT NULL CHECK (enabled IN (0, 1)),
	attributes     TEXT    NOT NULL CHECK (json_valid(attributes)),
	created_at     TEXT    NOT NULL,
	updated_at     TEXT    NOT NULL
) STRICT;

CREATE TABLE user_groups (
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	group_name TEXT NOT NULL,
	PRIMARY KEY (user_id, group_name)
) STRICT, WITHOUT ROWID;

-- No foreign key to users: a user revocation must outlive the user it names,
-- or deleting a user would silently un-revoke their still-valid sessions.
CREATE TABLE revocations (
	id         INTEGER PRIMARY KEY,
	session_id TEXT,
	user_id    TEXT,
	at         TEXT NOT NULL,
	expires    TEXT,
	CHECK ((session_id IS NULL) <> (user_id IS NULL))
) STRICT;

CREATE INDEX revocations_at ON revocations (at);
CREATE INDEX revocations_expires ON revocations (expires);

CREATE TABLE keys (
	kind       TEXT NOT NULL,
	id         TEXT NOT NULL,
	material   BLOB NOT NULL,
	created_at TEXT NOT NULL,
	not_after  TEXT,
	PRIMARY KEY (kind, id)
) STRICT;
