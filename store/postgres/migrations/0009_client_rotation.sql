-- Refresh token rotation per app client (issue 17). Cognito's clients keep
-- the first refresh token, so a client may turn rotation off; with it on, a
-- just-retired token may be presented again for a short grace period by a
-- concurrent request of its holder. Durations are bigint nanoseconds.
--
-- clients.refresh_token_rotation: '' (the default: on), 'on' or 'off';
-- clients.refresh_token_grace: 0 the default, negative none.
-- refresh_tokens.grace: the grace the token was issued with (its client's
-- setting then), so a token's rules never change under it; 0 for tokens made
-- before this migration: no grace, as before.

ALTER TABLE clients ADD COLUMN refresh_token_rotation text NOT NULL DEFAULT ''
	CHECK (refresh_token_rotation IN ('', 'on', 'off'));
ALTER TABLE clients ADD COLUMN refresh_token_grace bigint NOT NULL DEFAULT 0;
ALTER TABLE refresh_tokens ADD COLUMN grace bigint NOT NULL DEFAULT 0 CHECK (grace >= 0);
