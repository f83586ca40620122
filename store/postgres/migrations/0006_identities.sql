-- Links between pool users and their accounts at outside identity providers
-- (Cognito's "identities"). Same conventions as 0001.
--
-- A provider's subject belongs to one user (the primary key), and a user has
-- one identity per provider (the unique key, whose leading user_id also
-- serves the reads by user). Identities go with their user.

CREATE TABLE identities (
	provider      text COLLATE "C" NOT NULL,
	subject       text COLLATE "C" NOT NULL,
	user_id       text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	provider_type text        NOT NULL,
	issuer        text        NOT NULL,
	is_primary    boolean     NOT NULL,
	created_at    timestamptz NOT NULL,
	PRIMARY KEY (provider, subject),
	UNIQUE (user_id, provider)
);
