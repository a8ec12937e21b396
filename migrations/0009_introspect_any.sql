-- A machine app an administrator designates as a resource server may introspect any token of this server (an API
-- that does not sit behind tokengate checks tokens that way). Off for every existing app.
ALTER TABLE apps ADD COLUMN introspect_any BIGINT NOT NULL DEFAULT 0;
