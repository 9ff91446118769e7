-- TOTP second factor, recovery codes, two-step login challenges; users' own files
-- (names, links, metadata, tags) and chunks.

CREATE TABLE totp (
    user_id    TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret     BLOB NOT NULL,
    confirmed  INTEGER NOT NULL DEFAULT 0,
    last_step  INTEGER,
    created_at INTEGER NOT NULL
);

CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE login_challenges (
    id          TEXT PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_hash BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    consumed_at INTEGER,
    client_ip   TEXT,
    user_agent  TEXT
);
CREATE UNIQUE INDEX login_challenges_secret_hash_key ON login_challenges (secret_hash);
CREATE INDEX login_challenges_user_idx ON login_challenges (user_id);

ALTER TABLE files ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE files ADD COLUMN link TEXT;
ALTER TABLE files ADD COLUMN metadata TEXT;
ALTER TABLE files ADD COLUMN tag_set TEXT;
CREATE INDEX files_owner_created_idx ON files (owner_id, created_at);

CREATE TABLE chunks (
    id          TEXT PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    content     TEXT NOT NULL,
    html        TEXT,
    link        TEXT,
    metadata    TEXT,
    tag_set     TEXT,
    weight      REAL NOT NULL DEFAULT 0,
    tracking_id TEXT,
    file_id     TEXT REFERENCES files (id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX chunks_user_idx ON chunks (user_id, created_at, id);
CREATE UNIQUE INDEX chunks_tracking_key ON chunks (user_id, tracking_id);
