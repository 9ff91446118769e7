-- Login throttling that cannot lock an owner out (issue 14). A counter may refuse until a
-- time (waits that double after a budget of failures), and says when it can be deleted, so
-- counters for rotating addresses and invented logins expire and can be capped.
ALTER TABLE rate_limits ADD COLUMN blocked_until INTEGER;
ALTER TABLE rate_limits ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
UPDATE rate_limits SET expires_at = window_start + 86400000;
CREATE INDEX rate_limits_expiry_idx ON rate_limits (expires_at);

-- Addresses (an IPv4 address or an IPv6 /64) each account signed in from lately: from
-- these the owner is not held back by the per-account ceiling.
CREATE TABLE known_addresses (
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address      TEXT NOT NULL,
    succeeded_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, address)
);
CREATE INDEX known_addresses_age_idx ON known_addresses (succeeded_at);
