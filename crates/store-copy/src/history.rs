//! The migration histories of the two databases (`_sqlx_migrations`), and which of the
//! binary's migrations each side lacks or has changed: a copy needs both at the same version.

use sqlx::{PgConnection, SqliteConnection};

use crate::schema::MIGRATIONS_TABLE;
use crate::{CopyError, Side};

/// One row of sqlx's migration history.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct Applied {
    pub version: i64,
    pub description: String,
    pub success: bool,
}

impl Applied {
    /// As `SqliteStore::migration_names` spells it.
    fn name(&self) -> String {
        format!("{:04}_{}", self.version, self.description.replace(' ', "_"))
    }
}

/// Compares a database's migration history with this build's migrations (`known`, names as
/// `migration_names()` gives them). `Ok` lists the migrations still to apply (empty when the
/// database is current); a database that has migrations this build lacks, or a failed one,
/// is refused.
pub(crate) fn pending_migrations(
    side: Side,
    applied: &[Applied],
    known: &[String],
) -> Result<Vec<String>, CopyError> {
    if let Some(dirty) = applied.iter().find(|a| !a.success) {
        return Err(CopyError::History {
            side,
            detail: format!(
                "migration {} failed part-way; repair the database before copying it",
                dirty.name()
            ),
        });
    }
    let unknown: Vec<String> = applied
        .iter()
        .map(Applied::name)
        .filter(|name| !known.contains(name))
        .collect();
    if !unknown.is_empty() {
        return Err(CopyError::Newer {
            side,
            unknown: unknown.join(", "),
            latest: known.last().cloned().unwrap_or_default(),
        });
    }
    Ok(known
        .iter()
        .filter(|name| !applied.iter().any(|a| &a.name() == *name))
        .cloned()
        .collect())
}

/// The SQLite database's migration history; a database without one is not Gatehouse's.
pub(crate) async fn sqlite_history(conn: &mut SqliteConnection) -> Result<Vec<Applied>, CopyError> {
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_one(&mut *conn)
    .await
    .map_err(CopyError::sqlx(
        Side::Source,
        "reading the source's migration history",
    ))?;
    if !exists {
        return Err(CopyError::History {
            side: Side::Source,
            detail: "it has no migration history, so it is not a Gatehouse database".into(),
        });
    }
    sqlx::query_as("SELECT version, description, success FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut *conn)
        .await
        .map_err(CopyError::sqlx(
            Side::Source,
            "reading the source's migration history",
        ))
}

/// The PostgreSQL database's migration history; empty for a database never migrated.
pub(crate) async fn postgres_history(conn: &mut PgConnection) -> Result<Vec<Applied>, CopyError> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(MIGRATIONS_TABLE)
        .fetch_one(&mut *conn)
        .await
        .map_err(CopyError::sqlx(
            Side::Target,
            "reading the target's migration history",
        ))?;
    if !exists {
        return Ok(Vec::new());
    }
    sqlx::query_as("SELECT version, description, success FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut *conn)
        .await
        .map_err(CopyError::sqlx(
            Side::Target,
            "reading the target's migration history",
        ))
}
