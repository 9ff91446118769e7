//! `gatehouse check` and the quick check `serve` runs at start: the database file's
//! integrity (SQLite), its migrations against this build's, the file store against the
//! records that point into it, and stored password hashes over the cost bounds. Every
//! problem it reports says what to do. It reads only: it never repairs or migrates.

use std::collections::BTreeSet;
use std::path::Path;

use accounts::password::is_known_hash;
use accounts::store::{MigrationStatus, StoreError};
use accounts::HashCostLimits;
use anyhow::Context;
use store_postgres::maintenance::PostgresMaintenance;
use store_sqlite::maintenance::{is_corruption, SqliteMaintenance};
use uuid::Uuid;

use crate::config::Settings;
use crate::redact::redact_url;

/// What to do about a damaged SQLite file.
fn damaged_advice(path: &Path) -> String {
    format!(
        "the database {path} is damaged. Stop using it: restore the latest backup into a new \
         data directory (`gatehouse restore FILE --data-dir NEW_DIR`, then serve NEW_DIR; \
         docs/operations.md, \"Backup and restore\"), and keep the damaged file for salvage \
         (`sqlite3 {path} .recover > recovered.sql` reads what is left). `gatehouse check` \
         lists every problem",
        path = path.display()
    )
}

/// Refuses to serve a SQLite database whose pages are damaged (`PRAGMA quick_check`),
/// with the advice; a database that does not exist yet is created by the start.
pub async fn refuse_damaged_sqlite(database_url: &str) -> anyhow::Result<()> {
    if !database_url.starts_with("sqlite:") {
        return Ok(());
    }
    let db = match SqliteMaintenance::open(database_url).await {
        Ok(db) => db,
        Err(e) if is_corruption(&e) => anyhow::bail!("{e}: {}", damaged_path_advice(database_url)),
        // Missing (created next) or unreadable: the start says why.
        Err(_) => return Ok(()),
    };
    let result = db.integrity_problems(true).await;
    let path = db.path().to_owned();
    db.close().await;
    match result {
        Ok(problems) if problems.is_empty() => Ok(()),
        Ok(problems) => anyhow::bail!(
            "PRAGMA quick_check found: {}. {}",
            problems.join("; "),
            damaged_advice(&path)
        ),
        Err(e) if is_corruption(&e) => anyhow::bail!("{e}: {}", damaged_advice(&path)),
        Err(e) => Err(e).context("checking the database at start (PRAGMA quick_check)"),
    }
}

fn damaged_path_advice(database_url: &str) -> String {
    let path = database_url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    damaged_advice(Path::new(path))
}

/// What to do about migrations that are not current, one sentence each.
pub fn migration_advice(status: &MigrationStatus) -> Vec<String> {
    let mut advice = Vec::new();
    if !status.unknown.is_empty() {
        advice.push(format!(
            "the database has migration(s) this version does not know ({}): a newer Gatehouse \
             wrote it; run that version (migrations are forward-only: a downgrade needs the \
             backup taken before the upgrade)",
            status.unknown.join(", ")
        ));
    }
    if !status.failed.is_empty() {
        advice.push(format!(
            "migration(s) {} started and did not finish: restore the backup taken before the \
             upgrade, then start this version again",
            status.failed.join(", ")
        ));
    }
    if !status.changed.is_empty() {
        advice.push(format!(
            "migration(s) {} were applied with other contents than this build's: this build is \
             not the release that migrated the database; run that release",
            status.changed.join(", ")
        ));
    }
    if !status.pending.is_empty() {
        advice.push(format!(
            "migration(s) {} are not applied yet: take a backup (`gatehouse backup`), then \
             start `gatehouse serve` (or any command), which applies them",
            status.pending.join(", ")
        ));
    }
    advice
}

/// The findings of `gatehouse check`.
#[derive(Debug, Default)]
struct Findings {
    errors: Vec<String>,
    warnings: Vec<String>,
}

impl Findings {
    fn ok(&self, what: impl std::fmt::Display) {
        println!("ok: {what}");
    }
    fn error(&mut self, what: String) {
        println!("error: {what}");
        self.errors.push(what);
    }
    fn warn(&mut self, what: String) {
        println!("warning: {what}");
        self.warnings.push(what);
    }
}

/// `gatehouse check`: prints each finding; fails when any is an error.
pub async fn check(settings: &Settings) -> anyhow::Result<()> {
    let mut f = Findings::default();
    let shown = redact_url(&settings.database_url);
    let (migrations, file_ids, hashes) = if settings.database_url.starts_with("sqlite:") {
        let db = match SqliteMaintenance::open(&settings.database_url).await {
            Ok(db) => db,
            Err(e) if is_corruption(&e) => anyhow::bail!(
                "cannot open {shown}: {e}. {}",
                damaged_path_advice(&settings.database_url)
            ),
            Err(e) => anyhow::bail!(
                "cannot open {shown}: {e}. Check the settings `data_dir` and `database_url` \
                 (the same as the server's)"
            ),
        };
        match db.integrity_problems(false).await {
            Ok(problems) if problems.is_empty() => f.ok(format_args!(
                "{} passes PRAGMA integrity_check",
                db.path().display()
            )),
            Ok(problems) => f.error(format!(
                "PRAGMA integrity_check found: {}. {}",
                problems.join("; "),
                damaged_advice(db.path())
            )),
            Err(e) if is_corruption(&e) => f.error(format!("{e}. {}", damaged_advice(db.path()))),
            Err(e) => return Err(e.into()),
        }
        let results = (
            db.migrations().await,
            db.file_ids().await,
            db.password_hashes().await,
        );
        db.close().await;
        results
    } else {
        let db = PostgresMaintenance::open(&settings.database_url)
            .await
            .with_context(|| format!("setting `database_url`: cannot reach {shown}"))?;
        let (_, version) = db.server_version().await?;
        f.ok(format_args!(
            "PostgreSQL {version} at {shown} answers (it checks its own pages; `pg_amcheck` \
             verifies them)"
        ));
        (
            db.migrations().await,
            db.file_ids().await,
            db.password_hashes().await,
        )
    };

    match migrations {
        Ok(status) if status.is_current() => f.ok(format_args!(
            "migrations: all {} applied and known to this version (the last {})",
            status.applied.len(),
            status.applied.last().map_or("none", String::as_str)
        )),
        Ok(status) => {
            for advice in migration_advice(&status) {
                f.error(advice);
            }
        }
        Err(e) => f.error(read_failed("the migrations", &e)),
    }
    match file_ids {
        Ok(ids) => check_file_store(settings, &ids, &mut f)?,
        Err(e) => f.error(read_failed("the file records", &e)),
    }
    match hashes {
        Ok(hashes) => check_hashes(settings, &hashes, &mut f),
        Err(e) => f.error(read_failed("the password hashes", &e)),
    }

    if f.errors.is_empty() {
        println!(
            "check passed{}",
            if f.warnings.is_empty() {
                String::new()
            } else {
                format!(" with {} warning(s)", f.warnings.len())
            }
        );
        Ok(())
    } else {
        anyhow::bail!(
            "check found {} problem(s); each says what to do above",
            f.errors.len()
        )
    }
}

fn read_failed(what: &str, e: &StoreError) -> String {
    format!(
        "cannot read {what}: {e}; if the database is damaged, restore the latest backup \
         (`gatehouse restore`)"
    )
}

fn check_file_store(settings: &Settings, ids: &[Uuid], f: &mut Findings) -> anyhow::Result<()> {
    if let Some(url) = &settings.files_url {
        f.ok(format_args!(
            "{} file record(s); their bytes are in the object store {}, not checked here",
            ids.len(),
            redact_url(url)
        ));
        return Ok(());
    }
    let dir = settings.data_dir.join("files");
    let mut on_disk = BTreeSet::new();
    match std::fs::read_dir(&dir) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry?;
                if let Some(id) = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| Uuid::parse_str(n).ok())
                {
                    on_disk.insert(id);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    }
    let recorded: BTreeSet<Uuid> = ids.iter().copied().collect();
    let missing: Vec<String> = recorded
        .difference(&on_disk)
        .map(|id| id.to_string())
        .collect();
    let orphans: Vec<String> = on_disk
        .difference(&recorded)
        .map(|id| id.to_string())
        .collect();
    if missing.is_empty() {
        f.ok(format_args!(
            "every one of {} file record(s) has its bytes in {}",
            recorded.len(),
            dir.display()
        ));
    } else {
        f.error(format!(
            "{} file record(s) have no bytes in {} ({}): restore that directory from the \
             latest backup; otherwise their owners see the files fail and must upload them \
             again",
            missing.len(),
            dir.display(),
            shorten(&missing)
        ));
    }
    if !orphans.is_empty() {
        f.warn(format!(
            "{} file(s) in {} belong to no record ({}): left by an interrupted upload or \
             delete, or uploaded while this check ran; they only take space and may be \
             deleted while no server runs",
            orphans.len(),
            dir.display(),
            shorten(&orphans)
        ));
    }
    Ok(())
}

fn check_hashes(settings: &Settings, hashes: &[(String, String)], f: &mut Findings) {
    let limits = HashCostLimits {
        max_argon2_memory_kib: settings.max_stored_hash_memory_kib,
        max_bcrypt_cost: settings.max_stored_hash_bcrypt_cost,
        ..HashCostLimits::default()
    };
    let mut over = Vec::new();
    for (username, hash) in hashes {
        if !is_known_hash(hash) {
            continue;
        }
        if let Err(reason) = limits.check(hash) {
            over.push(format!("{username} ({reason})"));
        }
    }
    if over.is_empty() {
        f.ok(format_args!(
            "{} stored password hash(es) within the cost bounds",
            hashes.len()
        ));
    } else {
        f.error(format!(
            "{} user(s) have a stored password hash over the cost bounds, which is never \
             verified (every login is refused as a wrong password): {}. Set a new password \
             (`gatehouse user set-password --user NAME --password-stdin`) or let them reset it; \
             or, if the cost is intended, raise `max_stored_hash_memory_kib` / \
             `max_stored_hash_bcrypt_cost`",
            over.len(),
            shorten(&over)
        ));
    }
}

/// The first ten, and how many more.
fn shorten(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(10)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > 10 {
        text.push_str(&format!(" and {} more", items.len() - 10));
    }
    text
}
