-- Users, their roles, sessions, API tokens and files. The PostgreSQL twin of store-sqlite's
-- migration of the same name: same tables, columns and index names (unique violations are
-- mapped by index name), native types.
-- Ids are UUID; times are TIMESTAMPTZ written at millisecond precision (SQLite keeps INTEGER
-- milliseconds, so both backends hold the same instants); secret hashes are 32-byte SHA-256
-- BYTEA; the OIDC claims are one JSONB object.

CREATE TABLE users (
    id             UUID PRIMARY KEY,
    username       TEXT NOT NULL,
    email          TEXT NOT NULL,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'active', 'disabled')),
    password_hash  TEXT,
    profile        JSONB NOT NULL DEFAULT '{}',
    avatar_file_id UUID,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX users_username_key ON users (username);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE user_roles (
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL,
    PRIMARY KEY (user_id, role)
);

CREATE TABLE sessions (
    id           UUID PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_hash  BYTEA NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    client_ip    TEXT,
    user_agent   TEXT
);
CREATE UNIQUE INDEX sessions_secret_hash_key ON sessions (secret_hash);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE api_tokens (
    id           UUID PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    secret_hash  BYTEA NOT NULL,
    mask         TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ,
    disabled     BOOLEAN NOT NULL DEFAULT FALSE,
    last_used_at TIMESTAMPTZ,
    rotated_at   TIMESTAMPTZ
);
CREATE UNIQUE INDEX api_tokens_secret_hash_key ON api_tokens (secret_hash);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id, created_at);

CREATE TABLE files (
    id           UUID PRIMARY KEY,
    owner_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose      TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX files_owner_idx ON files (owner_id);
