//! Copies a whole Gatehouse deployment from SQLite to PostgreSQL (`gatehouse migrate`), and
//! checks the copy: per-table row counts, and a sample of rows per table read back from both
//! databases and compared field by field.
//!
//! The copy never merges: it refuses a target that holds any row (but the rows its migrations
//! write, the built-in roles, which both sides have alike). It reads one consistent
//! SQLite snapshot, writes everything in one PostgreSQL transaction, verifies inside that
//! transaction and commits only a verified copy, so a failed copy leaves the target empty
//! (migrated). Both databases are brought to this build's schema with their own crates'
//! migrations; one written by a newer Gatehouse is refused.
//!
//! This crate owns the table list (`schema.rs`), the type conversions (`rows.rs`) and the
//! verification (`transfer.rs`); it never decides a business rule and never goes through the `Store` port
//! (which has no "every row" methods, by design).

mod history;
mod rows;
mod schema;
mod transfer;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use accounts::StoreError;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection, Row, SqliteConnection};
use store_postgres::PostgresStore;
use store_sqlite::SqliteStore;

use schema::TABLES;

/// How long to wait for a database connection, and for the target's table locks.
const WAIT: Duration = Duration::from_secs(10);

/// Which database of the copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Target,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Source => "source",
            Self::Target => "target",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("the source must be an sqlite:// URL, not {0:?}")]
    SourceUrl(String),
    #[error("the target must be a postgres:// URL: {0}")]
    TargetUrl(String),
    #[error("the source database {} does not exist", .0.display())]
    SourceMissing(PathBuf),
    #[error("the {side} database cannot be copied: {detail}")]
    History { side: Side, detail: String },
    #[error(
        "the {side} database was migrated by a newer Gatehouse: it has {unknown}, and this \
         build knows migrations up to {latest}; run the copy with that newer version"
    )]
    Newer {
        side: Side,
        unknown: String,
        latest: String,
    },
    #[error(
        "the {side} database's schema differs from what this build copies ({}); nothing was \
         copied, since that would leave data behind (a migration that changes the schema must \
         update crates/store-copy/src/schema.rs)",
        .problems.join("; ")
    )]
    Schema { side: Side, problems: Vec<String> },
    #[error("the source breaks its own foreign keys: {0}")]
    ForeignKeys(String),
    #[error(
        "the target already holds data ({0}); the copy never merges into an existing \
         deployment: give it an empty database"
    )]
    TargetNotEmpty(String),
    #[error("{table} row {row}: column {column} {reason}")]
    Value {
        table: &'static str,
        row: String,
        column: &'static str,
        reason: String,
    },
    #[error(
        "{table}: the source holds {source_rows} rows, {copied} were copied and the target \
         holds {target_rows}"
    )]
    Count {
        table: &'static str,
        source_rows: u64,
        copied: u64,
        target_rows: u64,
    },
    #[error("{table} row {row}: column {column} differs after the copy (source {in_source}, target {in_target})")]
    Mismatch {
        table: &'static str,
        row: String,
        column: &'static str,
        in_source: String,
        in_target: String,
    },
    #[error("{table} row {row} is missing from the {side}")]
    Missing {
        side: Side,
        table: &'static str,
        row: String,
    },
    #[error("opening the {side} database: {error}")]
    Open {
        side: Side,
        #[source]
        error: StoreError,
    },
    #[error("{context} ({side}): {}", describe_sqlx(.error))]
    Database {
        side: Side,
        context: String,
        #[source]
        error: sqlx::Error,
    },
}

impl CopyError {
    /// For `map_err`: a database error with what the copy was doing.
    fn sqlx(side: Side, context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> Self {
        let context = context.into();
        move |error| Self::Database {
            side,
            context,
            error,
        }
    }
}

/// PostgreSQL's detail line names the offending key of a constraint violation.
fn describe_sqlx(error: &sqlx::Error) -> String {
    if let sqlx::Error::Database(db) = error {
        if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
            if let Some(detail) = pg.detail() {
                return format!("{} ({detail})", pg.message());
            }
        }
    }
    error.to_string()
}

/// What was copied and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// The source, as given.
    pub source: String,
    /// The target, never its password: `postgres://user@host:port/database`.
    pub target: String,
    /// Migrations this build applied to the source before copying it (empty when current).
    pub source_migrations_applied: Vec<String>,
    /// Every table, in copy order.
    pub tables: Vec<TableReport>,
}

/// One table's counts and the rows compared field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    pub table: &'static str,
    pub source_rows: u64,
    /// Counted in the target inside the copy's transaction, just before it committed.
    pub target_rows: u64,
    /// Keys of the rows read back from both sides and found identical: up to 50, evenly
    /// spread in key order, always the first and the last.
    pub sampled: Vec<String>,
}

impl CopyReport {
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.target_rows).sum()
    }

    pub fn table(&self, name: &str) -> Option<&TableReport> {
        self.tables.iter().find(|t| t.table == name)
    }
}

impl fmt::Display for CopyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "copied {} to {}", self.source, self.target)?;
        if !self.source_migrations_applied.is_empty() {
            writeln!(
                f,
                "migrated the source first: {}",
                self.source_migrations_applied.join(", ")
            )?;
        }
        writeln!(
            f,
            "{:<16} {:>10} {:>10} {:>8}",
            "table", "source", "target", "sampled"
        )?;
        for t in &self.tables {
            writeln!(
                f,
                "{:<16} {:>10} {:>10} {:>8}",
                t.table,
                t.source_rows,
                t.target_rows,
                t.sampled.len()
            )?;
        }
        write!(
            f,
            "{}; every count matches and every sampled row is identical field by field",
            rows(self.total_rows())
        )
    }
}

/// Copies the Gatehouse deployment in the SQLite database `from` (`sqlite://PATH`) into the
/// empty PostgreSQL database `to` (`postgres://…`), then checks the copy. `progress` hears
/// each step as it starts, for the operator.
///
/// Steps: the source is migrated to this build's schema (refused when newer), its schema is
/// compared with the tables this build copies and its foreign keys are checked; the target is
/// migrated (`PostgresStore::connect`) and refused unless every table is empty; then, in one
/// read snapshot of the source and one PostgreSQL transaction with the tables locked, every
/// table is copied parents first, counted on both sides and sampled, and id sequences are
/// moved past the copied ids; the transaction commits only when all of that agrees.
pub async fn copy_sqlite_to_postgres(
    from: &str,
    to: &str,
    mut progress: impl FnMut(&str),
) -> Result<CopyReport, CopyError> {
    let progress: &mut dyn FnMut(&str) = &mut progress;
    let source_options = source_options(from)?;
    let target_options = target_options(to)?;
    let target_name = printable_target(&target_options);

    progress(&format!("source {from}: checking its migrations"));
    let source_migrations_applied = migrate_source(from, &source_options, progress).await?;
    let mut source = connect_source(&source_options).await?;
    let mut snapshot = source
        .begin()
        .await
        .map_err(CopyError::sqlx(Side::Source, "starting the read snapshot"))?;
    progress("source: checking its tables, columns and foreign keys");
    schema::check_sqlite(&mut snapshot).await?;
    check_foreign_keys(&mut snapshot).await?;

    progress(&format!("target {target_name}: checking it is empty"));
    let mut target = connect_target(&target_options).await?;
    migrate_target(to, &mut target, progress).await?;
    schema::check_postgres(&mut target).await?;

    // The copy: one transaction, verified before it commits, so what commits is what was
    // checked.
    let mut tx = target
        .begin()
        .await
        .map_err(CopyError::sqlx(Side::Target, "starting the transaction"))?;
    lock_tables(&mut tx).await?;
    refuse_existing_rows(&mut tx).await?;
    let mut copied = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let source_rows = transfer::count(table, &mut snapshot).await?;
        progress(&format!("{}: copying {}", table.name, rows(source_rows)));
        let result = transfer::copy_table(table, source_rows, &mut snapshot, &mut tx).await?;
        let target_rows = transfer::count_target(table, &mut tx).await?;
        if result.rows != source_rows || target_rows != source_rows {
            return Err(CopyError::Count {
                table: table.name,
                source_rows,
                copied: result.rows,
                target_rows,
            });
        }
        if let Some(last) = transfer::continue_sequence(table, &mut snapshot, &mut tx).await? {
            progress(&format!("{}: new ids continue after {last}", table.name));
        }
        copied.push((table, source_rows, target_rows, result.samples));
    }
    for (table, _, _, samples) in &copied {
        progress(&format!(
            "{}: comparing {} field by field",
            table.name,
            rows(samples.len() as u64)
        ));
        transfer::verify_samples(table, samples, &mut snapshot, &mut tx).await?;
    }
    progress("target: committing");
    tx.commit()
        .await
        .map_err(CopyError::sqlx(Side::Target, "committing the copy"))?;

    let tables = copied
        .into_iter()
        .map(|(table, source_rows, target_rows, samples)| TableReport {
            table: table.name,
            source_rows,
            target_rows,
            sampled: samples.into_iter().map(|s| s.label).collect(),
        })
        .collect();
    snapshot
        .rollback()
        .await
        .map_err(CopyError::sqlx(Side::Source, "ending the read snapshot"))?;
    source
        .close()
        .await
        .map_err(CopyError::sqlx(Side::Source, "closing"))?;
    target
        .close()
        .await
        .map_err(CopyError::sqlx(Side::Target, "closing"))?;
    let report = CopyReport {
        source: from.to_owned(),
        target: target_name,
        source_migrations_applied,
        tables,
    };
    progress(&format!("done: {}", rows(report.total_rows())));
    Ok(report)
}

/// Brings the source to this build's schema with store-sqlite's own migrations (which also
/// checks the applied ones' checksums); refuses one from a newer build before touching it.
/// Returns the migrations applied.
async fn migrate_source(
    from: &str,
    options: &SqliteConnectOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<String>, CopyError> {
    let mut source = connect_source(options).await?;
    let history = schema::sqlite_history(&mut source).await?;
    let pending =
        schema::pending_migrations(Side::Source, &history, &SqliteStore::migration_names())?;
    source
        .close()
        .await
        .map_err(CopyError::sqlx(Side::Source, "closing"))?;
    if !pending.is_empty() {
        progress(&format!("source: applying {}", pending.join(", ")));
    }
    SqliteStore::connect(from)
        .await
        .map_err(|error| CopyError::Open {
            side: Side::Source,
            error,
        })?;
    Ok(pending)
}

/// Refuses a target from a newer build or holding any row, before migrating it; then
/// brings it to this build's schema with `PostgresStore::connect`.
async fn migrate_target(
    to: &str,
    target: &mut PgConnection,
    progress: &mut dyn FnMut(&str),
) -> Result<(), CopyError> {
    let history = schema::postgres_history(target).await?;
    let pending =
        schema::pending_migrations(Side::Target, &history, &PostgresStore::migration_names())?;
    refuse_existing_rows(target).await?;
    if !pending.is_empty() {
        progress(&format!("target: applying {}", pending.join(", ")));
    }
    PostgresStore::connect_with_pool_size(to, 1)
        .await
        .map_err(|error| CopyError::Open {
            side: Side::Target,
            error,
        })?;
    Ok(())
}

fn rows(n: u64) -> String {
    if n == 1 {
        "1 row".into()
    } else {
        format!("{n} rows")
    }
}

fn source_options(from: &str) -> Result<SqliteConnectOptions, CopyError> {
    if !from.starts_with("sqlite:") {
        return Err(CopyError::SourceUrl(from.to_owned()));
    }
    let options = SqliteConnectOptions::from_str(from)
        .map_err(|_| CopyError::SourceUrl(from.to_owned()))?
        .create_if_missing(false)
        .read_only(true)
        .busy_timeout(WAIT);
    let path = options.get_filename();
    if !path.is_file() {
        return Err(CopyError::SourceMissing(path.to_owned()));
    }
    Ok(options)
}

fn target_options(to: &str) -> Result<PgConnectOptions, CopyError> {
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        return Err(CopyError::TargetUrl(
            "it does not start with postgres://".into(),
        ));
    }
    PgConnectOptions::from_str(to)
        .map(|o| o.application_name("gatehouse-migrate"))
        .map_err(|e| CopyError::TargetUrl(e.to_string()))
}

/// The target as shown to the operator: never its password.
fn printable_target(options: &PgConnectOptions) -> String {
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or(options.get_username())
    )
}

async fn connect_source(options: &SqliteConnectOptions) -> Result<SqliteConnection, CopyError> {
    options
        .connect()
        .await
        .map_err(CopyError::sqlx(Side::Source, "opening"))
}

async fn connect_target(options: &PgConnectOptions) -> Result<PgConnection, CopyError> {
    match tokio::time::timeout(WAIT, options.connect()).await {
        Ok(connected) => connected.map_err(CopyError::sqlx(Side::Target, "connecting")),
        Err(_) => Err(CopyError::Database {
            side: Side::Target,
            context: "connecting".into(),
            error: sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer in {} s", WAIT.as_secs()),
            )),
        }),
    }
}

/// Rows whose foreign keys point nowhere would fail PostgreSQL's checks half-way through;
/// this names them up front.
async fn check_foreign_keys(source: &mut SqliteConnection) -> Result<(), CopyError> {
    // Columns: table, rowid (NULL for a WITHOUT ROWID table), parent, foreign key index.
    let broken: Vec<(String, Option<i64>, String)> = sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&mut *source)
        .await
        .map_err(CopyError::sqlx(Side::Source, "checking foreign keys"))?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(CopyError::sqlx(Side::Source, "checking foreign keys"))?;
    if broken.is_empty() {
        return Ok(());
    }
    let mut listed: Vec<String> = broken
        .iter()
        .take(10)
        .map(|(table, rowid, parent)| {
            format!(
                "{table} rowid {} refers to a missing {parent} row",
                rowid.map_or("?".into(), |r| r.to_string())
            )
        })
        .collect();
    if broken.len() > 10 {
        listed.push(format!("and {} more", broken.len() - 10));
    }
    Err(CopyError::ForeignKeys(listed.join("; ")))
}

/// Every table the copy writes, locked against writers (readers may still read) until the
/// copy commits, so nothing lands in the target between the emptiness check and the commit.
async fn lock_tables(tx: &mut PgConnection) -> Result<(), CopyError> {
    sqlx::query(&format!("SET LOCAL lock_timeout = '{}s'", WAIT.as_secs()))
        .execute(&mut *tx)
        .await
        .map_err(CopyError::sqlx(Side::Target, "setting the lock timeout"))?;
    let names = TABLES.iter().map(|t| t.name).collect::<Vec<_>>().join(", ");
    sqlx::query(&format!("LOCK TABLE {names} IN EXCLUSIVE MODE"))
        .execute(&mut *tx)
        .await
        .map_err(CopyError::sqlx(
            Side::Target,
            "locking the tables (is a Gatehouse server using the target?)",
        ))?;
    Ok(())
}

/// Refuses a target where any of the tables the copy writes holds a row of the kind it copies
/// (tables not yet created count as empty; the built-in roles do not count).
async fn refuse_existing_rows(target: &mut PgConnection) -> Result<(), CopyError> {
    let mut held = Vec::new();
    for table in TABLES {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(table.name)
            .fetch_one(&mut *target)
            .await
            .map_err(CopyError::sqlx(Side::Target, "listing the target's tables"))?;
        if !exists {
            continue;
        }
        let rows = transfer::count_target(table, target).await?;
        if rows > 0 {
            held.push(format!("{}: {}", table.name, self::rows(rows)));
        }
    }
    if held.is_empty() {
        Ok(())
    } else {
        Err(CopyError::TargetNotEmpty(held.join(", ")))
    }
}
