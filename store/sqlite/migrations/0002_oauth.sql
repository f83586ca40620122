-- OAuth 2.0 / OpenID Connect records: app clients, authorization codes and
-- refresh tokens. Same conventions as 0001: STRICT tables, times as fixed-width
-- UTC TEXT (NULL for "not set"), lists as JSON arrays in TEXT. Durations are
-- INTEGER nanoseconds, Go's time.Duration as is.
--
-- Codes and tokens carry a client_id but no foreign key to clients: clients
-- written in the Caddyfile are configuration and never stored, yet their
-- codes and tokens are. DeleteClient removes a stored client's codes and
-- tokens itself, hence the client_id indexes.

CREATE TABLE clients (
	id                        TEXT    NOT NULL PRIMARY KEY,
	name                      TEXT    NOT NULL,
	secret_hash               TEXT    NOT NULL,
	public                    INTEGER NOT NULL CHECK (public IN (0, 1)),
	redirect_uris             TEXT    NOT NULL CHECK (json_valid(redirect_uris)),
	post_logout_redirect_uris TEXT    NOT NULL CHECK (json_valid(post_logout_redirect_uris)),
	scopes                    TEXT    NOT NULL CHECK (json_valid(scopes)),
	grant_types               TEXT    NOT NULL CHECK (json_valid(grant_types)),
	id_token_ttl              INTEGER NOT NULL,
	access_token_ttl          INTEGER NOT NULL,
	refresh_token_ttl         INTEGER NOT NULL,
	created_at                TEXT    NOT NULL
) STRICT;

-- A code is deleted when consumed; one never consumed lingers until expired
-- rows are purged, which the expires index is for.
CREATE TABLE auth_codes (
	hash                  TEXT NOT NULL PRIMARY KEY,
	client_id             TEXT NOT NULL,
	user_id               TEXT NOT NULL,
	redirect_uri          TEXT NOT NULL,
	scope                 TEXT NOT NULL,
	nonce                 TEXT NOT NULL,
	code_challenge        TEXT NOT NULL,
	code_challenge_method TEXT NOT NULL,
	session_id            TEXT NOT NULL,
	auth_time             TEXT,
	amr                   TEXT NOT NULL CHECK (json_valid(amr)),
	expires               TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX auth_codes_expires ON auth_codes (expires);
CREATE INDEX auth_codes_client ON auth_codes (client_id);

-- state: live (may be exchanged), retired (was exchanged; presenting it again
-- is reuse and revokes the family), revoked (dead for good). A retired token
-- keeps its retired_at when its family is later revoked.
CREATE TABLE refresh_tokens (
	hash       TEXT NOT NULL PRIMARY KEY,
	family_id  TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	scope      TEXT NOT NULL,
	session_id TEXT NOT NULL,
	auth_time  TEXT,
	amr        TEXT NOT NULL CHECK (json_valid(amr)),
	issued_at  TEXT,
	expires    TEXT NOT NULL,
	state      TEXT NOT NULL CHECK (state IN ('live', 'retired', 'revoked')),
	retired_at TEXT,
	CHECK (state <> 'live' OR retired_at IS NULL),
	CHECK (state <> 'retired' OR retired_at IS NOT NULL)
) STRICT, WITHOUT ROWID;

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_client ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires);
