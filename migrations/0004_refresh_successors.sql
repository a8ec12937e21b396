-- A rotated refresh token points at the token it replaced, so that a client retrying a refresh whose answer was
-- lost (within the configured grace) can be told from a stolen copy: `superseded` marks successors spent by such a
-- retry, and presenting one is reuse like any other.
ALTER TABLE refresh_tokens ADD COLUMN parent_hash TEXT;
ALTER TABLE refresh_tokens ADD COLUMN superseded BIGINT NOT NULL DEFAULT 0;
CREATE INDEX refresh_tokens_parent ON refresh_tokens (parent_hash);
