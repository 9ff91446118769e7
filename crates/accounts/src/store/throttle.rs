//! `ThrottleStore`: rate-limit counters (shared by every process on one database) and the
//! addresses a user signed in from.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::UserId;

/// One rate-limit counter to hit: at most `limit` hits per fixed `window` for `key` (the
/// window starts at the first hit); or, with `backoff`, `limit` hits and then waits that
/// double, the count forgotten `window` after the last counted hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    pub key: String,
    pub limit: u32,
    pub window: chrono::Duration,
    pub backoff: Option<Backoff>,
}

impl RateLimit {
    /// `limit` hits per fixed `window`.
    pub fn per(key: impl Into<String>, limit: u32, window: chrono::Duration) -> Self {
        Self {
            key: key.into(),
            limit,
            window,
            backoff: None,
        }
    }
}

/// Once `limit` hits are counted, refuse for `first` after the hit that reached it, then for
/// twice as long after each further counted hit, up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: chrono::Duration,
    pub max: chrono::Duration,
}

impl Backoff {
    /// The wait after the hit that brought the count to `hits` (`hits >= limit`).
    pub fn wait(&self, hits: i64, limit: u32) -> chrono::Duration {
        let doublings = (hits - i64::from(limit)).clamp(0, 30) as u32;
        let first_ms = self.first.num_milliseconds().max(1);
        let ms = first_ms.saturating_mul(1_i64 << doublings);
        chrono::Duration::milliseconds(ms.min(self.max.num_milliseconds().max(first_ms)))
    }
}

/// One counter as both backends keep it, in milliseconds since the epoch: where its window
/// starts (with a `Backoff`: its last counted hit), its hits, and until when it refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateCounter {
    pub start: i64,
    pub hits: i64,
    pub blocked_until: Option<i64>,
}

impl RateCounter {
    /// A counter with no hits.
    pub fn fresh(now_ms: i64) -> Self {
        Self {
            start: now_ms,
            hits: 0,
            blocked_until: None,
        }
    }

    /// The counter after one more hit at `now_ms`, or `Err` with the milliseconds until it
    /// takes one.
    pub fn hit(self, limit: &RateLimit, now_ms: i64) -> Result<Self, i64> {
        let window_ms = limit.window.num_milliseconds();
        match limit.backoff {
            None => {
                let (start, hits) = if self.start + window_ms <= now_ms {
                    (now_ms, 0)
                } else {
                    (self.start, self.hits)
                };
                if hits >= i64::from(limit.limit) {
                    return Err(start + window_ms - now_ms);
                }
                Ok(Self {
                    start,
                    hits: hits + 1,
                    blocked_until: None,
                })
            }
            Some(backoff) => {
                if let Some(until) = self.blocked_until.filter(|until| *until > now_ms) {
                    return Err(until - now_ms);
                }
                let remembered = self.start + window_ms > now_ms;
                let hits = if remembered { self.hits } else { 0 } + 1;
                let blocked_until = (hits >= i64::from(limit.limit))
                    .then(|| now_ms + backoff.wait(hits, limit.limit).num_milliseconds());
                Ok(Self {
                    start: now_ms,
                    hits,
                    blocked_until,
                })
            }
        }
    }

    /// When the counter means nothing any more and may be deleted.
    pub fn expires_at(&self, limit: &RateLimit) -> i64 {
        (self.start + limit.window.num_milliseconds()).max(self.blocked_until.unwrap_or(i64::MIN))
    }
}

/// Why `hit_rate_limits` refused: the full limit whose window ends last, and when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exhausted {
    pub key: String,
    pub retry_after: chrono::Duration,
}

/// Rate limits and known addresses.
#[async_trait]
pub trait ThrottleStore: Send + Sync {
    /// Counts one hit on every limit, all or nothing, as `RateCounter::hit` says. When any key
    /// is refusing, nothing is counted and the answer is the refusing limit that ends last,
    /// with the time until it does. Every counter written says when it expires
    /// (`RateCounter::expires_at`), for `prune_rate_limits`.
    async fn hit_rate_limits(
        &self,
        limits: &[RateLimit],
        now: DateTime<Utc>,
    ) -> Result<Option<Exhausted>, StoreError>;

    /// Deletes these counters (a proven owner is no longer throttled).
    async fn clear_rate_limits(&self, keys: &[String]) -> Result<(), StoreError>;

    /// Takes back one hit from each of these counters (never below zero): a hit counted
    /// before an attempt turned out to succeed.
    async fn refund_rate_limits(&self, keys: &[String]) -> Result<(), StoreError>;

    /// Deletes the counters that have expired at `now`, then, while more than `keep_at_most`
    /// remain, those that expire soonest; and the known addresses that last succeeded before
    /// `known_cutoff`. How many rows went.
    async fn prune_rate_limits(
        &self,
        now: DateTime<Utc>,
        keep_at_most: u64,
        known_cutoff: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Records that `user` signed in from `address` (an address key) at `at`.
    async fn note_known_address(
        &self,
        user: UserId,
        address: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Whether `user` signed in from `address` at or after `since`.
    async fn is_known_address(
        &self,
        user: UserId,
        address: &str,
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}
