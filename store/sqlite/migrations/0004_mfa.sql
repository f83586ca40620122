-- Second factors, recovery codes and failed sign-ins. Same conventions as
-- 0001: STRICT, times as fixed-width UTC TEXT (NULL for "not set").
--
-- last_step is the replay guard of a TOTP factor: a code is accepted only by
-- an UPDATE that raises it, so one time step is accepted once however many
-- callers present it. Factors and recovery codes go with their user.

CREATE TABLE mfa_factors (
	id           TEXT    NOT NULL PRIMARY KEY,
	user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	kind         TEXT    NOT NULL,
	name         TEXT    NOT NULL,
	secret       BLOB    NOT NULL,
	confirmed    INTEGER NOT NULL CHECK (confirmed IN (0, 1)),
	last_step    INTEGER NOT NULL,
	created_at   TEXT    NOT NULL,
	last_used_at TEXT
) STRICT;

CREATE INDEX mfa_factors_user ON mfa_factors (user_id);

-- Only a hash of each code is kept. A spent code stays, marked by used_at,
-- until the next replacement.
CREATE TABLE recovery_codes (
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash    TEXT NOT NULL,
	used_at TEXT,
	PRIMARY KEY (user_id, hash)
) STRICT, WITHOUT ROWID;

-- Keyed by login as typed (normalized), not by user, and with no foreign
-- key: failures for an address nobody has are counted alike, so a lockout
-- says nothing about which accounts exist. last_at is NULL for a record made
-- by a lock alone, before any failure.
CREATE TABLE sign_in_failures (
	login        TEXT    NOT NULL PRIMARY KEY,
	count        INTEGER NOT NULL CHECK (count >= 0),
	last_at      TEXT,
	locked_until TEXT
) STRICT, WITHOUT ROWID;

CREATE INDEX sign_in_failures_last_at ON sign_in_failures (last_at);
