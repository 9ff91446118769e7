-- One-time codes, throttling counters, the audit trail and the mail outbox. The PostgreSQL
-- twin of store-sqlite's migration of the same name.

CREATE TABLE one_time_codes (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose         TEXT NOT NULL,
    code_hash       BYTEA NOT NULL,
    link_hash       BYTEA NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    code_expires_at TIMESTAMPTZ NOT NULL,
    link_expires_at TIMESTAMPTZ NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    consumed_at     TIMESTAMPTZ
);
CREATE INDEX one_time_codes_user_idx ON one_time_codes (user_id, purpose);
CREATE UNIQUE INDEX one_time_codes_link_key ON one_time_codes (link_hash);

CREATE TABLE rate_limits (
    key          TEXT PRIMARY KEY,
    window_start TIMESTAMPTZ NOT NULL,
    hits         INTEGER NOT NULL
);

CREATE TABLE audit_events (
    id         UUID PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL,
    action     TEXT NOT NULL,
    actor_id   UUID,
    subject_id UUID,
    outcome    TEXT NOT NULL,
    client_ip  TEXT,
    user_agent TEXT,
    detail     TEXT
);
CREATE INDEX audit_events_at_idx ON audit_events (at);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, id);
CREATE INDEX audit_events_subject_idx ON audit_events (subject_id, id);

CREATE TABLE outbox (
    id              UUID PRIMARY KEY,
    to_address      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    leased_until    TIMESTAMPTZ,
    last_error      TEXT,
    sent_at         TIMESTAMPTZ
);
CREATE INDEX outbox_due_idx ON outbox (status, next_attempt_at);
