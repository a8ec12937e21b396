-- Authorization requests between `/oauth2/authorize` and the login and consent forms' answers, in the store so that
-- any instance behind a load balancer can take the next step. Keyed by the SHA-256 of the request id.
CREATE TABLE authorization_requests (
    rid_hash    TEXT PRIMARY KEY,
    data        TEXT NOT NULL,
    username    TEXT,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX authorization_requests_expiry ON authorization_requests (expires_at);
