//! `ThrottleStore` on PostgreSQL: rate-limit counters, locked and hit all or nothing in one
//! transaction (the arithmetic is `RateCounter`'s), refunded, cleared and pruned; known
//! addresses.

use accounts::store::{Exhausted, RateCounter, RateLimit, StoreError, ThrottleStore};
use accounts::UserId;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;
use sqlx::Row;
use std::collections::HashMap;

use crate::{backend, map_err, stored, PostgresStore};

/// Locks every counter in `limits` (creating the missing ones), then counts one hit on each,
/// or nothing when any is full. On `Some` the caller must roll back, which also removes the
/// counters this call created.
fn time_of(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Backend(format!("timestamp out of range: {ms}").into()))
}

pub(crate) async fn hit_limits(
    conn: &mut PgConnection,
    limits: &[RateLimit],
    now: DateTime<Utc>,
) -> Result<Option<Exhausted>, StoreError> {
    let now_ms = stored(now).timestamp_millis();

    // Lock in key order, so two calls with overlapping keys cannot deadlock.
    let mut keys: Vec<&str> = limits.iter().map(|l| l.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut counters: HashMap<&str, RateCounter> = HashMap::with_capacity(keys.len());
    for key in keys {
        sqlx::query(
            "INSERT INTO rate_limits (key, window_start, hits, expires_at) VALUES ($1, $2, 0, $2) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(stored(now))
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
        let row = sqlx::query(
            "SELECT window_start, hits, blocked_until FROM rate_limits WHERE key = $1 FOR UPDATE",
        )
        .bind(key)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?;
        let counter = match row {
            Some(r) => {
                let start: DateTime<Utc> = r.try_get("window_start").map_err(backend)?;
                let hits: i32 = r.try_get("hits").map_err(backend)?;
                let until: Option<DateTime<Utc>> = r.try_get("blocked_until").map_err(backend)?;
                RateCounter {
                    start: start.timestamp_millis(),
                    hits: i64::from(hits),
                    blocked_until: until.map(|t| t.timestamp_millis()),
                }
            }
            // Cleared between the insert and the lock: a fresh counter.
            None => RateCounter::fresh(now_ms),
        };
        counters.insert(key, counter);
    }

    let mut blocked: Option<(i64, &str)> = None;
    let mut next = Vec::with_capacity(limits.len());
    for limit in limits {
        let key = limit.key.as_str();
        match counters[key].hit(limit, now_ms) {
            Err(wait) => {
                if blocked.is_none_or(|(longest, _)| wait > longest) {
                    blocked = Some((wait, key));
                }
            }
            Ok(counted) => next.push((limit, counted)),
        }
    }
    if let Some((wait, key)) = blocked {
        return Ok(Some(Exhausted {
            key: key.to_owned(),
            retry_after: Duration::milliseconds(wait.max(1)),
        }));
    }
    for (limit, counted) in next {
        sqlx::query(
            "UPDATE rate_limits SET window_start = $2, hits = $3, blocked_until = $4, \
             expires_at = $5 WHERE key = $1",
        )
        .bind(&limit.key)
        .bind(time_of(counted.start)?)
        .bind(i32::try_from(counted.hits).unwrap_or(i32::MAX))
        .bind(counted.blocked_until.map(time_of).transpose()?)
        .bind(time_of(counted.expires_at(limit))?)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    Ok(None)
}

#[async_trait]
impl ThrottleStore for PostgresStore {
    async fn hit_rate_limits(
        &self,
        limits: &[RateLimit],
        now: DateTime<Utc>,
    ) -> Result<Option<Exhausted>, StoreError> {
        let mut tx = self.begin().await?;
        let outcome = hit_limits(&mut tx, limits, now).await?;
        if outcome.is_some() {
            // Refused: nothing counts, and the counters this call created go away.
            tx.rollback().await.map_err(map_err)?;
        } else {
            tx.commit().await.map_err(map_err)?;
        }
        Ok(outcome)
    }

    async fn clear_rate_limits(&self, keys: &[String]) -> Result<(), StoreError> {
        let mut keys: Vec<&String> = keys.iter().collect();
        // Key order, as `hit_rate_limits` locks them, so the two cannot deadlock.
        keys.sort();
        keys.dedup();
        let mut tx = self.begin().await?;
        for key in keys {
            sqlx::query("DELETE FROM rate_limits WHERE key = $1")
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn refund_rate_limits(&self, keys: &[String]) -> Result<(), StoreError> {
        let mut keys: Vec<&String> = keys.iter().collect();
        // Key order, as `hit_rate_limits` locks them, so the two cannot deadlock.
        keys.sort();
        keys.dedup();
        let mut tx = self.begin().await?;
        for key in keys {
            sqlx::query("UPDATE rate_limits SET hits = hits - 1 WHERE key = $1 AND hits > 0")
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn prune_rate_limits(
        &self,
        now: DateTime<Utc>,
        keep_at_most: u64,
        known_cutoff: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut deleted = sqlx::query("DELETE FROM rate_limits WHERE expires_at <= $1")
            .bind(stored(now))
            .execute(&self.pool)
            .await
            .map_err(map_err)?
            .rows_affected();
        // Rows locked by a hit in progress are skipped, never waited for.
        deleted += sqlx::query(
            "DELETE FROM rate_limits WHERE key IN (SELECT key FROM rate_limits \
             ORDER BY expires_at DESC OFFSET $1 FOR UPDATE SKIP LOCKED)",
        )
        .bind(i64::try_from(keep_at_most).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await
        .map_err(map_err)?
        .rows_affected();
        deleted += sqlx::query("DELETE FROM known_addresses WHERE succeeded_at < $1")
            .bind(stored(known_cutoff))
            .execute(&self.pool)
            .await
            .map_err(map_err)?
            .rows_affected();
        Ok(deleted)
    }

    async fn note_known_address(
        &self,
        user: UserId,
        address: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO known_addresses (user_id, address, succeeded_at) \
             SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM users WHERE id = $1) \
             ON CONFLICT (user_id, address) DO UPDATE SET succeeded_at = excluded.succeeded_at",
        )
        .bind(user.0)
        .bind(address)
        .bind(stored(at))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn is_known_address(
        &self,
        user: UserId,
        address: &str,
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let found: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM known_addresses WHERE user_id = $1 AND address = $2 \
             AND succeeded_at >= $3",
        )
        .bind(user.0)
        .bind(address)
        .bind(stored(since))
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(found.is_some())
    }
}
