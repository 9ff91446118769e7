-- TOTP second factor, recovery codes, two-step login challenges; users' own files
-- (names, links, metadata, tags) and chunks. The PostgreSQL twin of store-sqlite's
-- migration of the same name.

CREATE TABLE totp (
    user_id    UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret     BYTEA NOT NULL,
    confirmed  BOOLEAN NOT NULL DEFAULT FALSE,
    last_step  BIGINT,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE recovery_codes (
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE login_challenges (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_hash BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    consumed_at TIMESTAMPTZ,
    client_ip   TEXT,
    user_agent  TEXT
);
CREATE UNIQUE INDEX login_challenges_secret_hash_key ON login_challenges (secret_hash);
CREATE INDEX login_challenges_user_idx ON login_challenges (user_id);

ALTER TABLE files ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE files ADD COLUMN link TEXT;
ALTER TABLE files ADD COLUMN metadata JSONB;
ALTER TABLE files ADD COLUMN tag_set TEXT;
CREATE INDEX files_owner_created_idx ON files (owner_id, created_at);

CREATE TABLE chunks (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    content     TEXT NOT NULL,
    html        TEXT,
    link        TEXT,
    metadata    JSONB,
    tag_set     TEXT,
    weight      DOUBLE PRECISION NOT NULL DEFAULT 0,
    tracking_id TEXT,
    file_id     UUID REFERENCES files (id) ON DELETE SET NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX chunks_user_idx ON chunks (user_id, created_at, id);
CREATE UNIQUE INDEX chunks_tracking_key ON chunks (user_id, tracking_id);
