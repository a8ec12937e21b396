-- The authorization server's state: signing keys, grants, codes, refresh tokens, consents, sessions, replay
-- protection and the revocation log that keeps every instance's in-memory revocation set in step.

CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    alg          TEXT NOT NULL,
    private_pem  TEXT NOT NULL,
    public_jwk   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    retired_at   BIGINT
);

-- One authorization (user x app x scope); refresh tokens and access tokens belong to a grant, and revoking the grant
-- revokes all of them (the "family").
CREATE TABLE grants (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES apps (client_id) ON DELETE CASCADE,
    username    TEXT NOT NULL,
    scope       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    revoked_at  BIGINT
);
CREATE INDEX grants_client ON grants (client_id);

CREATE TABLE auth_codes (
    code_hash       TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL REFERENCES apps (client_id) ON DELETE CASCADE,
    grant_id        TEXT NOT NULL,
    username        TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    scope           TEXT NOT NULL,
    code_challenge  TEXT,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT
);

CREATE TABLE refresh_tokens (
    token_hash    TEXT PRIMARY KEY,
    grant_id      TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    client_id     TEXT NOT NULL,
    scope         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT NOT NULL,
    used_at       BIGINT
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);

CREATE TABLE consents (
    username    TEXT NOT NULL,
    client_id   TEXT NOT NULL REFERENCES apps (client_id) ON DELETE CASCADE,
    scope       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (username, client_id, scope)
);

CREATE TABLE sessions (
    session_hash  TEXT PRIMARY KEY,
    username      TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);

CREATE TABLE used_assertions (
    client_id   TEXT NOT NULL,
    jti         TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);

-- Append-only: what was revoked (kind: jti, grant, client, user), from when, until when it matters.
CREATE TABLE revocations (
    seq         BIGINT PRIMARY KEY,
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    revoked_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('revocations', 0);
