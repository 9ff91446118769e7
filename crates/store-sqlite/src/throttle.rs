//! `ThrottleStore` on SQLite: rate-limit counters, hit all or nothing in one write transaction
//! (the arithmetic is `RateCounter`'s), refunded, cleared and pruned; known addresses.

use accounts::store::{Exhausted, RateCounter, RateLimit, StoreError, ThrottleStore};
use accounts::UserId;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use sqlx::Row;
use sqlx::SqliteConnection;

use crate::{backend, map_err, millis, SqliteStore};

pub(crate) async fn hit_limits(
    conn: &mut SqliteConnection,
    limits: &[RateLimit],
    now: DateTime<Utc>,
) -> Result<Option<Exhausted>, StoreError> {
    let now_ms = millis(now);
    let mut blocked: Option<(i64, &str)> = None;
    let mut next = Vec::with_capacity(limits.len());
    for limit in limits {
        let row =
            sqlx::query("SELECT window_start, hits, blocked_until FROM rate_limits WHERE key = ?")
                .bind(&limit.key)
                .fetch_optional(&mut *conn)
                .await
                .map_err(map_err)?;
        let counter = match row {
            Some(r) => RateCounter {
                start: r.try_get("window_start").map_err(backend)?,
                hits: r.try_get("hits").map_err(backend)?,
                blocked_until: r.try_get("blocked_until").map_err(backend)?,
            },
            None => RateCounter::fresh(now_ms),
        };
        match counter.hit(limit, now_ms) {
            Err(wait) => {
                if blocked.is_none_or(|(longest, _)| wait > longest) {
                    blocked = Some((wait, &limit.key));
                }
            }
            Ok(counted) => next.push(counted),
        }
    }
    if let Some((wait, key)) = blocked {
        return Ok(Some(Exhausted {
            key: key.to_owned(),
            retry_after: Duration::milliseconds(wait.max(1)),
        }));
    }
    for (limit, counted) in limits.iter().zip(next) {
        sqlx::query(
            "INSERT INTO rate_limits (key, window_start, hits, blocked_until, expires_at) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET \
             window_start = excluded.window_start, hits = excluded.hits, \
             blocked_until = excluded.blocked_until, expires_at = excluded.expires_at",
        )
        .bind(&limit.key)
        .bind(counted.start)
        .bind(counted.hits)
        .bind(counted.blocked_until)
        .bind(counted.expires_at(limit))
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    Ok(None)
}

#[async_trait]
impl ThrottleStore for SqliteStore {
    async fn hit_rate_limits(
        &self,
        limits: &[RateLimit],
        now: DateTime<Utc>,
    ) -> Result<Option<Exhausted>, StoreError> {
        let mut tx = self.begin_write().await?;
        let outcome = hit_limits(&mut tx, limits, now).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(outcome)
    }

    async fn clear_rate_limits(&self, keys: &[String]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for key in keys {
            sqlx::query("DELETE FROM rate_limits WHERE key = ?")
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn refund_rate_limits(&self, keys: &[String]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for key in keys {
            sqlx::query("UPDATE rate_limits SET hits = hits - 1 WHERE key = ? AND hits > 0")
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
        let mut tx = self.begin_write().await?;
        let mut deleted = sqlx::query("DELETE FROM rate_limits WHERE expires_at <= ?")
            .bind(millis(now))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        deleted += sqlx::query(
            "DELETE FROM rate_limits WHERE key IN (SELECT key FROM rate_limits \
             ORDER BY expires_at DESC LIMIT -1 OFFSET ?)",
        )
        .bind(i64::try_from(keep_at_most).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?
        .rows_affected();
        deleted += sqlx::query("DELETE FROM known_addresses WHERE succeeded_at < ?")
            .bind(millis(known_cutoff))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        tx.commit().await.map_err(map_err)?;
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
             SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM users WHERE id = ?) \
             ON CONFLICT (user_id, address) DO UPDATE SET succeeded_at = excluded.succeeded_at",
        )
        .bind(user.to_string())
        .bind(address)
        .bind(millis(at))
        .bind(user.to_string())
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
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM known_addresses WHERE user_id = ? AND address = ? AND succeeded_at >= ?",
        )
        .bind(user.to_string())
        .bind(address)
        .bind(millis(since))
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(found.is_some())
    }
}
