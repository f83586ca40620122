-- The audit trail of account security. Same conventions as 0001: STRICT,
-- times as fixed-width UTC TEXT.
--
-- No foreign key to users: the trail outlives the accounts it names, and
-- failed sign-ins for an address nobody has name no account at all.
-- AUTOINCREMENT keeps ids increasing even after the newest rows are purged,
-- so that paging by id never meets an id twice. detail is a JSON object.

CREATE TABLE audit_events (
	id      INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	at      TEXT    NOT NULL,
	type    TEXT    NOT NULL,
	user_id TEXT    NOT NULL,
	login   TEXT    NOT NULL,
	ip      TEXT    NOT NULL,
	reason  TEXT    NOT NULL,
	detail  TEXT    NOT NULL
) STRICT;

CREATE INDEX audit_events_user ON audit_events (user_id, id);
CREATE INDEX audit_events_login ON audit_events (login, id);
CREATE INDEX audit_events_at ON audit_events (at);
