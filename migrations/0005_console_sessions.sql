-- Admin console sessions, in the store so that any instance behind a load balancer serves them and a restart keeps
-- them. Keyed by the SHA-256 of the session id (the id itself is only in the administrator's cookie).
CREATE TABLE console_sessions (
    session_hash  TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    username      TEXT NOT NULL,
    csrf          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions (username);

-- One-time tokens of the console's forms already sent (a reload must not make a second app, secret or key).
CREATE TABLE console_sent_forms (
    session_hash  TEXT NOT NULL REFERENCES console_sessions (session_hash) ON DELETE CASCADE,
    token         TEXT NOT NULL,
    PRIMARY KEY (session_hash, token)
);
