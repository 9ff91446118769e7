//! Looking after a PostgreSQL database from outside the `Store`: the server's version, which
//! migrations the database has, and the rows `gatehouse check` compares with the file store.
//! Never applies a migration (backups are taken with `pg_dump`, not here).

use std::str::FromStr;
use std::time::Duration;

use accounts::store::{MigrationRecord, MigrationStatus, StoreError};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::{map_err, MIGRATOR};

/// One connection to a PostgreSQL database, for maintenance.
#[derive(Debug)]
pub struct PostgresMaintenance {
    pool: PgPool,
}

impl PostgresMaintenance {
    /// Connects to `url`, waiting at most 10 s.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(map_err)?
            .application_name("gatehouse-maintenance");
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(map_err)?;
        Ok(Self { pool })
    }

    /// `server_version_num` (e.g. 160004) and `server_version` (e.g. "16.4 (Debian ...)").
    pub async fn server_version(&self) -> Result<(i64, String), StoreError> {
        let num: String = sqlx::query_scalar("SHOW server_version_num")
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let text: String = sqlx::query_scalar("SHOW server_version")
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let num = num
            .trim()
            .parse()
            .map_err(|_| StoreError::Backend(format!("server_version_num {num:?}").into()))?;
        Ok((num, text))
    }

    /// The migrations this database records, compared with this build's.
    pub async fn migrations(&self) -> Result<MigrationStatus, StoreError> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let applied = if exists {
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
        } else {
            Vec::new()
        };
        let known: Vec<MigrationRecord> = MIGRATOR
            .iter()
            .map(|m| MigrationRecord {
                version: m.version,
                description: m.description.to_string(),
                checksum: m.checksum.to_vec(),
                success: true,
            })
            .collect();
        Ok(MigrationStatus::compare(&known, &applied))
    }

    /// Every stored file's id, whose bytes the file store holds.
    pub async fn file_ids(&self) -> Result<Vec<Uuid>, StoreError> {
        sqlx::query_scalar("SELECT id FROM files ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)
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
}
