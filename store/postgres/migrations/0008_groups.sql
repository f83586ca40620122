-- Groups as Cognito has them: a name with a description and a precedence,
-- existing on their own. Until now a group existed only as memberships;
-- every group named by a membership is backfilled, without description or
-- precedence. A membership refers to its group, so deleting a group takes
-- its memberships with it.

CREATE TABLE groups (
	name        text COLLATE "C" NOT NULL PRIMARY KEY,
	description text        NOT NULL,
	precedence  integer CHECK (precedence >= 0),
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL
);

INSERT INTO groups (name, description, precedence, created_at, updated_at)
	SELECT DISTINCT group_name, '', NULL::integer, now(), now() FROM user_groups;

ALTER TABLE user_groups ADD CONSTRAINT user_groups_group_fkey
	FOREIGN KEY (group_name) REFERENCES groups (name) ON DELETE CASCADE;

-- ListUsersInGroup reads a group's members.
CREATE INDEX user_groups_group ON user_groups (group_name, user_id);
