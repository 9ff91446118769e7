-- One-time codes, throttling counters, the audit trail and the mail outbox.

CREATE TABLE one_time_codes (
    id              TEXT PRIMARY KEY NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose         TEXT NOT NULL,
    code_hash       BLOB NOT NULL,
    link_hash       BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    code_expires_at INTEGER NOT NULL,
    link_expires_at INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    consumed_at     INTEGER
);
CREATE INDEX one_time_codes_user_idx ON one_time_codes (user_id, purpose);
CREATE UNIQUE INDEX one_time_codes_link_key ON one_time_codes (link_hash);

CREATE TABLE rate_limits (
    key          TEXT PRIMARY KEY NOT NULL,
    window_start INTEGER NOT NULL,
    hits         INTEGER NOT NULL
);

CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY NOT NULL,
    at         INTEGER NOT NULL,
    action     TEXT NOT NULL,
    actor_id   TEXT,
    subject_id TEXT,
    outcome    TEXT NOT NULL,
    client_ip  TEXT,
    user_agent TEXT,
    detail     TEXT
);
CREATE INDEX audit_events_at_idx ON audit_events (at);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, id);
CREATE INDEX audit_events_subject_idx ON audit_events (subject_id, id);

CREATE TABLE outbox (
    id              TEXT PRIMARY KEY NOT NULL,
    to_address      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    leased_until    INTEGER,
    last_error      TEXT,
    sent_at         INTEGER
);
CREATE INDEX outbox_due_idx ON outbox (status, next_attempt_at);
