-- Account lifecycle: one-time codes mailed to users (confirming an address,
-- resetting a password, confirming a changed address) and deadlines of
-- temporary passwords. Same conventions as 0001: STRICT, times as
-- fixed-width UTC TEXT (NULL for "not set").
--
-- One row per user and purpose: a new code replaces the old one. The code
-- itself is never stored, only a hash of it. Codes go with their user.

CREATE TABLE verification_codes (
	user_id  TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	purpose  TEXT    NOT NULL,
	hash     TEXT    NOT NULL,
	target   TEXT    NOT NULL,
	attempts INTEGER NOT NULL CHECK (attempts >= 0),
	sent_at  TEXT,
	expires  TEXT    NOT NULL,
	PRIMARY KEY (user_id, purpose)
) STRICT, WITHOUT ROWID;

CREATE INDEX verification_codes_expires ON verification_codes (expires);
