-- Links between pool users and their accounts at outside identity providers
-- (Cognito's "identities"). Same conventions as 0001: STRICT, times as
-- fixed-width UTC TEXT.
--
-- A provider's subject belongs to one user (the primary key), and a user has
-- one identity per provider (the unique key, whose leading user_id also
-- serves the reads by user). Identities go with their user.

CREATE TABLE identities (
	provider      TEXT    NOT NULL,
	subject       TEXT    NOT NULL,
	user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	provider_type TEXT    NOT NULL,
	issuer        TEXT    NOT NULL,
	is_primary    INTEGER NOT NULL CHECK (is_primary IN (0, 1)),
	created_at    TEXT    NOT NULL,
	PRIMARY KEY (provider, subject),
	UNIQUE (user_id, provider)
) STRICT, WITHOUT ROWID;
