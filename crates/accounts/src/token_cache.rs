//! The in-memory credential cache that serves token checks without a database round trip.
//!
//! Entries live for a short TTL (so a change made by another process, such as the CLI, is
//! seen within it) and are dropped at once when this process revokes a credential. A
//! generation counter keeps a lookup that raced with a revocation from re-inserting what
//! was just revoked.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::domain::UserId;
use crate::service::Principal;
use crate::token::TokenHash;

#[derive(Debug)]
struct Cached {
    principal: Principal,
    expires_at: Option<DateTime<Utc>>,
    fetched_at: DateTime<Utc>,
}

#[derive(Debug)]
pub(crate) struct TokenCache {
    entries: RwLock<HashMap<TokenHash, Cached>>,
    ttl: Duration,
    capacity: usize,
    generation: AtomicU64,
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
}

impl TokenCache {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            ttl,
            capacity,
            generation: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub(crate) fn get(&self, hash: &TokenHash, now: DateTime<Utc>) -> Option<Principal> {
        let entries = self.entries.read().expect("token cache lock poisoned");
        let found = entries
            .get(hash)
            .filter(|c| now - c.fetched_at < self.ttl && c.expires_at.is_none_or(|at| at > now));
        match found {
            Some(c) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(c.principal.clone())
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// The generation to pass to `insert` after a database lookup started now.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn insert(
        &self,
        hash: TokenHash,
        principal: Principal,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        generation: u64,
    ) {
        let mut entries = self.entries.write().expect("token cache lock poisoned");
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= self.capacity {
            entries.retain(|_, c| now - c.fetched_at < self.ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(
            hash,
            Cached {
                principal,
                expires_at,
                fetched_at: now,
            },
        );
    }

    fn invalidate(&self, keep: impl Fn(&Principal) -> bool) {
        let mut entries = self.entries.write().expect("token cache lock poisoned");
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|_, c| keep(&c.principal));
    }

    pub(crate) fn invalidate_credential(&self, id: Uuid) {
        self.invalidate(|p| p.credential_id != id);
    }

    pub(crate) fn invalidate_user(&self, user: UserId) {
        self.invalidate(|p| p.user_id != user);
    }
}
