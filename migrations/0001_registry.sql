-- Users, admins, OAuth2 applications and their credentials.
-- Portable SQL: the same statements run on SQLite and PostgreSQL. Times are seconds since the epoch (BIGINT),
-- flags are BIGINT 0/1, binary data is base64 TEXT.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_admin      BIGINT NOT NULL DEFAULT 0,
    disabled      BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE admin_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL UNIQUE,
    note         TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT
);

-- Counters updated in the same transaction as the rows they count: `apps` enforces max_apps under concurrency.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('apps', 0);

CREATE TABLE apps (
    client_id                            TEXT PRIMARY KEY,
    app_type                             TEXT NOT NULL,
    name                                 TEXT NOT NULL,
    description                          TEXT NOT NULL DEFAULT '',
    redirect_urls                        TEXT NOT NULL DEFAULT '[]',
    refresh_token_rotation               BIGINT NOT NULL DEFAULT 1,
    refresh_token_absolute_expiry_secs   BIGINT,
    refresh_token_inactivity_expiry_secs BIGINT,
    logo_url                             TEXT,
    app_description_url                  TEXT,
    developer_name                       TEXT,
    developer_email                      TEXT,
    privacy_policy_url                   TEXT,
    created_at                           BIGINT NOT NULL,
    updated_at                           BIGINT NOT NULL
);

CREATE TABLE app_logos (
    client_id    TEXT PRIMARY KEY REFERENCES apps (client_id) ON DELETE CASCADE,
    content_type TEXT NOT NULL,
    data_base64  TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE client_secrets (
    id           TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL REFERENCES apps (client_id) ON DELETE CASCADE,
    secret_hash  TEXT NOT NULL UNIQUE,
    note         TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX client_secrets_client ON client_secrets (client_id);

CREATE TABLE public_keys (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES apps (client_id) ON DELETE CASCADE,
    family     TEXT NOT NULL,
    format     TEXT NOT NULL,
    material   TEXT NOT NULL,
    note       TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX public_keys_client ON public_keys (client_id);
