//! The `Store` on PostgreSQL: the backend for several Gatehouse processes on one database.
//! Same tables, columns, index names and migration file names as `store-sqlite`, with native
//! types (UUID, TIMESTAMPTZ, BYTEA, BOOLEAN, JSONB).
//!
//! Concurrency: row locks, not SERIALIZABLE. Every method is one transaction at PostgreSQL's
//! default READ COMMITTED, and a method whose write depends on what it read first locks the
//! rows it reads, so concurrent callers queue instead of failing and nothing needs a retry:
//! - `insert_token`, `issue_code` and `insert_file` lock the owner's `users` row (`FOR NO KEY
//!   UPDATE`, which does not block foreign-key checks), so a per-user count, the superseding
//!   of live codes or the quota's sum is decided by one transaction at a time; so do
//!   `delete_file` (which may clear the avatar), `confirm_totp`, `delete_totp` and
//!   `replace_recovery_codes` (so two replacements cannot interleave);
//! - `begin_totp`, `use_totp_step`, `use_recovery_code`, `fail_challenge` and
//!   `complete_challenge` decide in one conditional statement (an upsert that leaves a
//!   confirmed secret alone, compare-and-set), whose row lock makes a parallel caller wait and
//!   then see the change;
//! - `hit_rate_limits` creates missing counters, then locks every counter it touches
//!   (`FOR UPDATE`) in key order, so parallel hits queue and two multi-key hits cannot
//!   deadlock; a refused hit rolls back, so it counts nowhere and creates nothing;
//!   `clear_rate_limits` and `record_credential_use` also touch rows in a fixed order;
//! - `redeem_code`, `update_profile`, `update_user` and `replace_avatar` lock the row they
//!   read and rewrite; `delete_user` locks the user's row `FOR UPDATE` first, so no token,
//!   session or file can be added meanwhile and escape the list of what it removed;
//!   `set_user_roles` locks the user's row, so two replacements apply one after the other;
//! - `claim_mail` leases with `FOR UPDATE SKIP LOCKED`, so parallel workers take disjoint
//!   messages without waiting on each other.
//!
//! Times are truncated to milliseconds before they are written, as SQLite stores them, so a
//! value reads back the same from either backend.
//!
//! One file per role trait of `accounts::store`, with the same names as in `store-sqlite`,
//! each holding that trait's impl and its SQL (`list_users`'s is `user_list.rs`); this file
//! connects, maps errors, and answers `BaseStore` (invalidations through `invalidation.rs`).
//!
//! This crate owns its SQL, its migrations and its error mapping (unique violations by
//! constraint name); it never decides a business rule.

mod access;
mod audit;
mod content;
mod credentials;
mod invalidation;
mod lifecycle;
pub mod maintenance;
mod second_factor;
mod throttle;
mod user_list;
mod users;

#[cfg(feature = "testkit")]
pub mod testkit;

use std::str::FromStr;
use std::time::Duration as StdDuration;

use accounts::store::{BaseStore, Invalidation, StoreError, Unique};
use accounts::token::TokenHash;
use accounts::{User, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool};

use crate::users::{user_from_row, USER_COLUMNS};

/// The PostgreSQL-backed store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connections per process when the caller does not choose.
const DEFAULT_MAX_CONNECTIONS: u32 = 8;

/// How long a caller waits for a pooled connection when the opener does not choose.
const DEFAULT_WAIT: StdDuration = StdDuration::from_secs(10);

/// A failure of the backend; one that says the database did not answer becomes
/// `StoreError::Unavailable`.
pub(crate) fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
    match boxed.downcast::<sqlx::Error>() {
        Ok(e) if is_unavailable(&e) => StoreError::unavailable(*e),
        Ok(e) => StoreError::Backend(e),
        Err(other) => StoreError::Backend(other),
    }
}

/// Maps a unique violation to the rule it broke, by the name of the index PostgreSQL reports
/// (the names are set in `migrations/`).
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            match db.constraint() {
                Some("users_username_key") => return StoreError::Conflict(Unique::Username),
                Some("users_email_key") => return StoreError::Conflict(Unique::Email),
                Some("users_number_key") => return StoreError::Conflict(Unique::UserNumber),
                Some("roles_name_key") => return StoreError::Conflict(Unique::RoleName),
                Some(
                    "api_tokens_secret_hash_key"
                    | "sessions_secret_hash_key"
                    | "login_challenges_secret_hash_key",
                ) => return StoreError::Conflict(Unique::TokenHash),
                Some("chunks_tracking_key") => return StoreError::Conflict(Unique::TrackingId),
                _ => {}
            }
        }
    }
    backend(e)
}

/// The server did not answer, is shutting down or starting, or refused the connection; or no
/// pooled connection came within the wait: try again shortly.
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        // Class 08: connection exceptions; 57P01-57P03: shutting down or starting up;
        // 53300: too many connections.
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// The instant as stored: whole milliseconds, like SQLite's INTEGER columns.
pub(crate) fn stored(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

pub(crate) fn token_hash(bytes: Vec<u8>) -> Result<TokenHash, StoreError> {
    Ok(TokenHash(bytes.try_into().map_err(|_| {
        StoreError::Backend("secret hash is not 32 bytes".into())
    })?))
}

/// Locks the user's row for the rest of the transaction, so per-user decisions (how many
/// tokens, which codes are live) are made one transaction at a time. `FOR NO KEY UPDATE`
/// leaves foreign-key checks (inserts of the user's sessions, files) unblocked.
pub(crate) async fn lock_user(conn: &mut PgConnection, id: UserId) -> Result<(), StoreError> {
    sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE")
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// The LISTEN/NOTIFY channel that carries cache invalidations between processes.
const INVALIDATION_CHANNEL: &str = "gatehouse_invalidate";

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`) and
    /// applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_pool_size(url, DEFAULT_MAX_CONNECTIONS).await
    }

    /// Like `connect`, with at most `max_connections` connections, for when several
    /// processes share the server's `max_connections`.
    pub async fn connect_with_pool_size(
        url: &str,
        max_connections: u32,
    ) -> Result<Self, StoreError> {
        Self::connect_with(url, max_connections, DEFAULT_WAIT).await
    }

    /// Like `connect`; a caller waits at most `wait` for a pooled connection (a new one
    /// included, while the server does not answer) before the call fails as
    /// `StoreError::Unavailable`.
    pub async fn connect_waiting(url: &str, wait: StdDuration) -> Result<Self, StoreError> {
        Self::connect_with(url, DEFAULT_MAX_CONNECTIONS, wait).await
    }

    async fn connect_with(
        url: &str,
        max_connections: u32,
        wait: StdDuration,
    ) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(backend)?
            .application_name("gatehouse");
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(wait)
            .connect_with(options)
            .await
            .map_err(backend)?;
        MIGRATOR.run(&pool).await.map_err(backend)?;
        Ok(Self { pool })
    }

    async fn begin(&self) -> Result<sqlx::Transaction<'_, sqlx::Postgres>, StoreError> {
        self.pool.begin().await.map_err(map_err)
    }

    async fn user_where(
        &self,
        clause: &str,
        bind: impl for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
    ) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE {clause}");
        sqlx::query(&sql)
            .bind(bind)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .map(|row| user_from_row(&row))
            .transpose()
    }

    /// Names of the applied migrations, in order (for checks and `check-config`); the same
    /// list as `store-sqlite`'s.
    pub fn migration_names() -> Vec<String> {
        MIGRATOR
            .iter()
            .map(|m| format!("{:04}_{}", m.version, m.description.replace(' ', "_")))
            .collect()
    }
}

#[async_trait]
impl BaseStore for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn publish_invalidation(&self, what: Invalidation) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(INVALIDATION_CHANNEL)
            .bind(invalidation::encode(what))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn subscribe_invalidations(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<Invalidation>>, StoreError> {
        invalidation::subscribe(&self.pool).await.map(Some)
    }
}
