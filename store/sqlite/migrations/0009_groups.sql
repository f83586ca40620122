-- Groups as Cognito has them: a name with a description and a precedence,
-- existing on their own. Until now a group existed only as memberships;
-- every group named by a membership is backfilled, without description or
-- precedence. Same conventions as 0001: STRICT, times as fixed-width UTC TEXT.
--
-- user_groups is rebuilt to refer to its group, so deleting a group takes
-- its memberships with it in the same statement (SQLite cannot add a
-- foreign key to a table in place).

CREATE TABLE groups (
	name        TEXT    NOT NULL PRIMARY KEY,
	description TEXT    NOT NULL,
	precedence  INTEGER CHECK (precedence >= 0),
	created_at  TEXT    NOT NULL,
	updated_at  TEXT    NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO groups (name, description, precedence, created_at, updated_at)
	SELECT DISTINCT group_name, '', NULL,
		strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000000Z', strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000000Z'
	FROM user_groups;

CREATE TABLE user_groups_new (
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	group_name TEXT NOT NULL REFERENCES groups (name) ON DELETE CASCADE,
	PRIMARY KEY (user_id, group_name)
) STRICT, WITHOUT ROWID;

INSERT INTO user_groups_new (user_id, group_name) SELECT user_id, group_name FROM user_groups;
DROP TABLE user_groups;
ALTER TABLE user_groups_new RENAME TO user_groups;

-- ListUsersInGroup reads a group's members.
CREATE INDEX user_groups_group ON user_groups (group_name, user_id);
