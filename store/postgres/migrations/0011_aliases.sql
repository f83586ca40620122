-- Sign-in aliases (issue 19): a user may sign in with a username (the
-- preferred_username attribute) or a verified phone_number, as with
-- Cognito's aliases. The attributes stay in the attributes JSON; these
-- columns hold the keys they are found by, kept by the store in the same
-- statement as the attributes, and only for the kinds the pool signs in
-- with (store.AliasStore.KeepAliases): username_key is the username
-- folded (store.FoldUsername), phone_key a verified number as stored.
-- NULL for none; unique among the rest. Filled for existing users when a
-- pool turns the kind on (first come keeps a contested one), not here.

ALTER TABLE users ADD COLUMN username_key text;
ALTER TABLE users ADD COLUMN phone_key text;
CREATE UNIQUE INDEX users_username_key ON users (username_key) WHERE username_key IS NOT NULL;
CREATE UNIQUE INDEX users_phone_key ON users (phone_key) WHERE phone_key IS NOT NULL;
