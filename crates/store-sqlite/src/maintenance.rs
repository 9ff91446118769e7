//! Looking after a SQLite database from outside the `Store`: its integrity check, which
//! migrations it has, a consistent copy of it while a server writes to it (`VACUUM INTO`),
//! and the rows `gatehouse check` compares with the file store. Opens the existing file
//! only: never creates a database and never applies a migration.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use accounts::store::{MigrationRecord, MigrationStatus, StoreError};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

use crate::{map_err, uuid, MIGRATOR};

/// One connection to an existing SQLite database, for maintenance.
#[derive(Debug)]
pub struct SqliteMaintenance {
    pool: SqlitePool,
    path: PathBuf,
}

/// SQLite's own words for a damaged file (`SQLITE_CORRUPT`, `SQLITE_NOTADB`).
pub fn is_corruption(e: &StoreError) -> bool {
    let text = e.to_string();
    text.contains("malformed") || text.contains("not a database") || text.contains("corrupt")
}

impl SqliteMaintenance {
    /// Opens the database at `url` (`sqlite://PATH`), which must exist.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url).map_err(map_err)?;
        let path = options.get_filename().to_owned();
        if !path.is_file() {
            return Err(StoreError::Backend(
                format!("there is no database at {}", path.display()).into(),
            ));
        }
        // WAL, as the server opens it: a reader then never blocks the server's writes.
        let options = options
            .create_if_missing(false)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(map_err)?;
        Ok(Self { pool, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `PRAGMA quick_check` (`quick`: O(N), skips index contents) or `PRAGMA
    /// integrity_check`: the problems found, none when the file is sound.
    pub async fn integrity_problems(&self, quick: bool) -> Result<Vec<String>, StoreError> {
        let pragma = if quick {
            "PRAGMA quick_check(20)"
        } else {
            "PRAGMA integrity_check(100)"
        };
        let rows = sqlx::query(pragma)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        let lines: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String, _>(0).map_err(map_err))
            .collect::<Result<_, _>>()?;
        Ok(if lines == ["ok"] { Vec::new() } else { lines })
    }

    /// The migrations this database records, compared with this build's.
    pub async fn migrations(&self) -> Result<MigrationStatus, StoreError> {
        let exists: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        let applied = if exists == 0 {
            Vec::new()
        } else {
            sqlx::query(
                "SELECT version, description, checksum, success FROM _sqlx_migrations \
                 ORDER BY version",
            )
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| {
                Ok(MigrationRecord {
                    version: r.try_get("version").map_err(map_err)?,
                    description: r.try_get("description").map_err(map_err)?,
                    checksum: r.try_get("checksum").map_err(map_err)?,
                    success: r.try_get("success").map_err(map_err)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?
        };
        Ok(MigrationStatus::compare(&known_migrations(), &applied))
    }

    /// Writes a consistent copy of the whole database to the new file `dest` (`VACUUM
    /// INTO`: one read transaction, so writers go on meanwhile and nothing half-written is
    /// copied). `dest` must not exist.
    pub async fn snapshot_into(&self, dest: &Path) -> Result<(), StoreError> {
        let dest = dest
            .to_str()
            .ok_or_else(|| StoreError::Backend("the snapshot path is not UTF-8".into()))?;
        sqlx::query("VACUUM INTO ?")
            .bind(dest)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    /// Every stored file's id (users' uploads and pictures), whose bytes the file store holds.
    pub async fn file_ids(&self) -> Result<Vec<Uuid>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM files ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        ids.iter().map(|id| uuid(id)).collect()
    }

    /// `(username, stored hash)` of every user with a password.
    pub async fn password_hashes(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT username, password_hash FROM users WHERE password_hash IS NOT NULL \
             ORDER BY username",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("username").map_err(map_err)?,
                    r.try_get("password_hash").map_err(map_err)?,
                ))
            })
            .collect()
    }

    /// Closes the connection (a checkpoint of the write-ahead log when it is the last one).
    pub async fn close(self) {
        self.pool.close().await;
    }
}

/// This build's migrations.
pub fn known_migrations() -> Vec<MigrationRecord> {
    MIGRATOR
        .iter()
        .map(|m| MigrationRecord {
            version: m.version,
            description: m.description.to_string(),
            checksum: m.checksum.to_vec(),
            success: true,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fresh_database_is_sound_current_and_copies_itself() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("g.db").display());
        let store = crate::SqliteStore::connect(&url).await.unwrap();
        let m = SqliteMaintenance::open(&url).await.unwrap();
        assert!(m.integrity_problems(true).await.unwrap().is_empty());
        assert!(m.integrity_problems(false).await.unwrap().is_empty());
        let status = m.migrations().await.unwrap();
        assert!(status.is_current(), "{status:?}");
        assert_eq!(status.applied.len(), known_migrations().len());
        let copy = dir.path().join("copy.db");
        m.snapshot_into(&copy).await.unwrap();
        drop(store);
        let c = SqliteMaintenance::open(&format!("sqlite://{}", copy.display()))
            .await
            .unwrap();
        assert!(c.migrations().await.unwrap().is_current());
        assert!(SqliteMaintenance::open("sqlite:///nonexistent/x.db")
            .await
            .is_err());
    }
}
