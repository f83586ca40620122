-- The whole schema of the PostgreSQL store. Tables are created unqualified,
-- so they land in the connection's current schema (the first existing one
-- on its search_path) and are read from there: one database can hold several
-- pools, or test runs, side by side in separate schemas.
--
-- Conventions:
--   - Times are timestamptz (microsecond precision); NULL means "not set".
--   - Identifiers and anything listed or compared in order (ids, emails,
--     group names) use COLLATE "C", byte order, which is how Go sorts
--     strings and how the SQLite store orders them, whatever the database's
--     default collation is.
--   - Lists are jsonb arrays. Attributes are json, not jsonb: jsonb refuses
--     the escape \u0000, and an attribute value may contain a NUL byte.
--   - Durations are bigint nanoseconds, Go's time.Duration as is.

CREATE TABLE users (
	id             text COLLATE "C" NOT NULL PRIMARY KEY,
	email          text COLLATE "C" NOT NULL UNIQUE,
	email_verified boolean     NOT NULL,
	name           text        NOT NULL,
	password_hash  text        NOT NULL,
	status         text        NOT NULL,
	enabled        boolean     NOT NULL,
	attributes     json        NOT NULL,
	created_at     timestamptz NOT NULL,
	updated_at     timestamptz NOT NULL
);

CREATE TABLE user_groups (
	user_id    text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	group_name text COLLATE "C" NOT NULL,
	PRIMARY KEY (user_id, group_name)
);

-- No foreign key to users: a user revocation must outlive the user it names,
-- or deleting a user would silently un-revoke their still-valid sessions.
-- id breaks ties between entries made at the same instant.
CREATE TABLE revocations (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	session_id text,
	user_id    text,
	at         timestamptz NOT NULL,
	expires    timestamptz,
	CHECK ((session_id IS NULL) <> (user_id IS NULL))
);

CREATE INDEX revocations_at ON revocations (at);
CREATE INDEX revocations_expires ON revocations (expires);

-- seq orders keys added with the same created_at: the later one first.
CREATE TABLE keys (
	kind       text COLLATE "C" NOT NULL,
	id         text COLLATE "C" NOT NULL,
	seq        bigint GENERATED ALWAYS AS IDENTITY,
	material   bytea       NOT NULL,
	created_at timestamptz NOT NULL,
	not_after  timestamptz,
	PRIMARY KEY (kind, id)
);

CREATE INDEX keys_order ON keys (kind, created_at DESC, seq DESC);

-- Codes and tokens carry a client_id but no foreign key to clients: clients
-- written in the Caddyfile are configuration and never stored, yet their
-- codes and tokens are. DeleteClient removes a stored client's codes and
-- tokens itself, hence the client_id indexes.
CREATE TABLE clients (
	id                        text COLLATE "C" NOT NULL PRIMARY KEY,
	name                      text        NOT NULL,
	secret_hash               text        NOT NULL,
	public                    boolean     NOT NULL,
	redirect_uris             jsonb       NOT NULL CHECK (jsonb_typeof(redirect_uris) = 'array'),
	post_logout_redirect_uris jsonb       NOT NULL CHECK (jsonb_typeof(post_logout_redirect_uris) = 'array'),
	scopes                    jsonb       NOT NULL CHECK (jsonb_typeof(scopes) = 'array'),
	grant_types               jsonb       NOT NULL CHECK (jsonb_typeof(grant_types) = 'array'),
	id_token_ttl              bigint      NOT NULL,
	access_token_ttl          bigint      NOT NULL,
	refresh_token_ttl         bigint      NOT NULL,
	created_at                timestamptz NOT NULL
);

-- A code is deleted when consumed; one never consumed lingers until expired
-- rows are purged, which the expires index is for.
CREATE TABLE auth_codes (
	hash                  text COLLATE "C" NOT NULL PRIMARY KEY,
	client_id             text COLLATE "C" NOT NULL,
	user_id               text        NOT NULL,
	redirect_uri          text        NOT NULL,
	scope                 text        NOT NULL,
	nonce                 text        NOT NULL,
	code_challenge        text        NOT NULL,
	code_challenge_method text        NOT NULL,
	session_id            text        NOT NULL,
	auth_time             timestamptz,
	amr                   jsonb       NOT NULL CHECK (jsonb_typeof(amr) = 'array'),
	expires               timestamptz NOT NULL
);

CREATE INDEX auth_codes_expires ON auth_codes (expires);
CREATE INDEX auth_codes_client ON auth_codes (client_id);

-- state: live (may be exchanged), retired (was exchanged; presenting it again
-- is reuse and revokes the family), revoked (dead for good). A retired token
-- keeps its retired_at when its family is later revoked.
CREATE TABLE refresh_tokens (
	hash       text COLLATE "C" NOT NULL PRIMARY KEY,
	family_id  text COLLATE "C" NOT NULL,
	client_id  text COLLATE "C" NOT NULL,
	user_id    text COLLATE "C" NOT NULL,
	scope      text        NOT NULL,
	session_id text        NOT NULL,
	auth_time  timestamptz,
	amr        jsonb       NOT NULL CHECK (jsonb_typeof(amr) = 'array'),
	issued_at  timestamptz,
	expires    timestamptz NOT NULL,
	state      text        NOT NULL CHECK (state IN ('live', 'retired', 'revoked')),
	retired_at timestamptz,
	CHECK (state <> 'live' OR retired_at IS NULL),
	CHECK (state <> 'retired' OR retired_at IS NOT NULL)
);

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_client ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires);
