-- Machine apps say which users a JWT bearer assertion may name as `sub` (a JSON list, none by default) and which
-- scopes the app may be granted (a JSON list; NULL: the server's default scopes).
ALTER TABLE apps ADD COLUMN jwt_subjects TEXT NOT NULL DEFAULT '[]';
ALTER TABLE apps ADD COLUMN scopes TEXT;

-- Admin API tokens expire. Tokens made before expiry existed get the default 90 days from their creation.
ALTER TABLE admin_tokens ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;
UPDATE admin_tokens SET expires_at = created_at + 7776000 WHERE expires_at = 0;
