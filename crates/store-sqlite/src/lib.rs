//! The `Store` on SQLite: the zero-configuration backend. One file, WAL mode, so the CLI can
//! work on the database while the server runs. Write transactions start with
//! `BEGIN IMMEDIATE` so two writers queue on the busy timeout instead of failing on upgrade.
//!
//! One file per role trait of `accounts::store`, named after the core's module (`users.rs`,
//! `access.rs`, `credentials.rs`, `lifecycle.rs`, `second_factor.rs`, `content.rs`,
//! `throttle.rs`, `audit.rs`), each holding that trait's impl and its SQL (`list_users`'s is
//! `user_list.rs`); this file opens the database, maps errors, and answers `BaseStore`.
//!
//! This crate owns its SQL and its error mapping; it never decides a business rule.

mod access;
mod audit;
mod content;
mod credentials;
mod lifecycle;
pub mod maintenance;
mod second_factor;
mod throttle;
mod user_list;
mod users;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration as StdDuration;

use accounts::store::{BaseStore, StoreError, Unique};
use accounts::User;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};
use uuid::Uuid;

use crate::users::{user_from_row, USER_COLUMNS};

/// The SQLite-backed store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

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

/// Maps a unique violation to the rule it broke. SQLite names the columns, not the index,
/// in its message ("UNIQUE constraint failed: users.email").
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            let msg = db.message();
            if msg.contains("users.username") {
                return StoreError::Conflict(Unique::Username);
            }
            if msg.contains("users.email") {
                return StoreError::Conflict(Unique::Email);
            }
            if msg.contains(".secret_hash") {
                return StoreError::Conflict(Unique::TokenHash);
            }
            if msg.contains("users.number") {
                return StoreError::Conflict(Unique::UserNumber);
            }
            if msg.contains("roles.name") {
                return StoreError::Conflict(Unique::RoleName);
            }
            if msg.contains("chunks.tracking_id") {
                return StoreError::Conflict(Unique::TrackingId);
            }
        }
    }
    backend(e)
}

/// No connection within the wait, or the file stayed locked past the busy timeout
/// (`SQLITE_BUSY`, `SQLITE_LOCKED`): try again shortly.
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("5" | "6")),
        _ => false,
    }
}

pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn time(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Backend(format!("timestamp out of range: {ms}").into()))
}

pub(crate) fn opt_time(ms: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    ms.map(time).transpose()
}

pub(crate) fn uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(backend)
}

/// The database holds password hashes: create its file readable by its owner only (SQLite
/// gives the `-wal` and `-shm` files the database file's mode), whatever the umask.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let name = path.to_string_lossy();
    if name.is_empty() || name == ":memory:" || name.starts_with("file:") {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        // A missing directory: let SQLite report it as it always has.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://path` or
    /// `sqlite::memory:`) and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_waiting(url, DEFAULT_WAIT).await
    }

    /// Like `connect`; a caller waits at most `wait` for a pooled connection before the
    /// call fails as `StoreError::Unavailable`.
    pub async fn connect_waiting(url: &str, wait: StdDuration) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url).map_err(backend)?;
        create_private_file(options.get_filename()).map_err(backend)?;
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(StdDuration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .acquire_timeout(wait)
            .connect_with(options)
            .await
            .map_err(backend)?;
        MIGRATOR.run(&pool).await.map_err(backend)?;
        Ok(Self { pool })
    }

    /// Opens `<dir>/gatehouse.db`.
    pub async fn open_in(dir: &Path) -> Result<Self, StoreError> {
        Self::connect(&format!("sqlite://{}", dir.join("gatehouse.db").display())).await
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'_, sqlx::Sqlite>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)
    }

    /// A pooled connection for reads and single statements (atomic on their own).
    async fn conn(&self) -> Result<PoolConnection<Sqlite>, StoreError> {
        self.pool.acquire().await.map_err(map_err)
    }

    async fn user_where(&self, clause: &str, value: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE {clause}");
        sqlx::query(&sql)
            .bind(value)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .map(|row| user_from_row(&row))
            .transpose()
    }

    /// Names of the applied migrations, in order (for checks and `check-config`).
    pub fn migration_names() -> Vec<String> {
        MIGRATOR
            .iter()
            .map(|m| format!("{:04}_{}", m.version, m.description.replace(' ', "_")))
            .collect()
    }
}

#[async_trait]
impl BaseStore for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod contract {
    use std::sync::Arc;

    use accounts::Store;

    use super::SqliteStore;

    async fn scratch() -> (Arc<dyn Store>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in(dir.path()).await.unwrap();
        (Arc::new(store), dir)
    }

    accounts::store_contract_tests!(scratch());
}
