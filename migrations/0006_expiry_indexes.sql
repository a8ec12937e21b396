-- Expired rows are deleted every ten minutes: indexes so that finding them does not scan the tables.
CREATE INDEX auth_codes_expiry ON auth_codes (expires_at);
CREATE INDEX sessions_expiry ON sessions (expires_at);
CREATE INDEX used_assertions_expiry ON used_assertions (expires_at);
CREATE INDEX revocations_expiry ON revocations (expires_at);
