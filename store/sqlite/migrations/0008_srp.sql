-- Users' SRP verifiers for Cognito's USER_SRP_AUTH (pools with srp on).
-- Same conventions as 0001: STRICT, times as fixed-width UTC TEXT.
--
-- One per user, sealed by the pool (salt and g^x); it goes with the user,
-- and UpdatePassword deletes it with the password it was made from.

CREATE TABLE srp_verifiers (
	user_id    TEXT NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	sealed     BLOB NOT NULL,
	created_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;
