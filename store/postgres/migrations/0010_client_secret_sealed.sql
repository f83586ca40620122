-- A stored app client's secret, sealed by the pool (issue 17): Cognito's
-- SECRET_HASH is an HMAC keyed with the secret, which a hash of it cannot
-- check. Clients made (or whose secret was rotated) after this keep it
-- here, opaque to the store; older ones have an empty value and keep
-- working with their hash wherever the secret itself is sent.

ALTER TABLE clients ADD COLUMN secret_sealed bytea NOT NULL DEFAULT '\x';
