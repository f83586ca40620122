-- Account lifecycle: one-time codes mailed to users (confirming an address,
-- resetting a password, confirming a changed address) and deadlines of
-- temporary passwords. Same conventions as 0001.
--
-- One row per user and purpose: a new code replaces the old one. The code
-- itself is never stored, only a hash of it. Codes go with their user.

CREATE TABLE verification_codes (
	user_id  text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	purpose  text COLLATE "C" NOT NULL,
	hash     text        NOT NULL,
	target   text        NOT NULL,
	attempts integer     NOT NULL CHECK (attempts >= 0),
	sent_at  timestamptz,
	expires  timestamptz NOT NULL,
	PRIMARY KEY (user_id, purpose)
);

CREATE INDEX verification_codes_expires ON verification_codes (expires);
