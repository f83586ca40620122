-- Users' SRP verifiers for Cognito's USER_SRP_AUTH (pools with srp on).
-- Same conventions as 0001.
--
-- One per user, sealed by the pool (salt and g^x); it goes with the user,
-- and UpdatePassword deletes it with the password it was made from.

CREATE TABLE srp_verifiers (
	user_id    text COLLATE "C" NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	sealed     bytea       NOT NULL,
	created_at timestamptz NOT NULL
);
