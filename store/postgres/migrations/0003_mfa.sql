-- Second factors, recovery codes and failed sign-ins. Same conventions as
-- 0001.
--
-- last_step is the replay guard of a TOTP factor: a code is accepted only by
-- an UPDATE that raises it, so one time step is accepted once however many
-- callers present it. Factors and recovery codes go with their user.

CREATE TABLE mfa_factors (
	id           text COLLATE "C" NOT NULL PRIMARY KEY,
	user_id      text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	kind         text        NOT NULL,
	name         text        NOT NULL,
	secret       bytea       NOT NULL,
	confirmed    boolean     NOT NULL,
	last_step    bigint      NOT NULL,
	created_at   timestamptz NOT NULL,
	last_used_at timestamptz
);

CREATE INDEX mfa_factors_user ON mfa_factors (user_id);

-- Only a hash of each code is kept. A spent code stays, marked by used_at,
-- until the next replacement.
CREATE TABLE recovery_codes (
	user_id text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash    text COLLATE "C" NOT NULL,
	used_at timestamptz,
	PRIMARY KEY (user_id, hash)
);

-- Keyed by login as typed (normalized), not by user, and with no foreign
-- key: failures for an address nobody has are counted alike, so a lockout
-- says nothing about which accounts exist. last_at is NULL for a record made
-- by a lock alone, before any failure.
CREATE TABLE sign_in_failures (
	login        text COLLATE "C" NOT NULL PRIMARY KEY,
	count        integer     NOT NULL CHECK (count >= 0),
	last_at      timestamptz,
	locked_until timestamptz
);

CREATE INDEX sign_in_failures_last_at ON sign_in_failures (last_at);
