-- The audit trail of account security. Same conventions as 0001.
--
-- No foreign key to users: the trail outlives the accounts it names, and
-- failed sign-ins for an address nobody has name no account at all. An
-- identity column never hands out an id twice, so ids keep increasing after
-- the newest rows are purged. detail is a JSON object.

CREATE TABLE audit_events (
	id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at      timestamptz      NOT NULL,
	type    text COLLATE "C" NOT NULL,
	user_id text COLLATE "C" NOT NULL,
	login   text COLLATE "C" NOT NULL,
	ip      text             NOT NULL,
	reason  text             NOT NULL,
	detail  json             NOT NULL
);

CREATE INDEX audit_events_user ON audit_events (user_id, id);
CREATE INDEX audit_events_login ON audit_events (login, id);
CREATE INDEX audit_events_at ON audit_events (at);
