//! `gatehouse backup` and `gatehouse restore`: one tar file (mode 0600) holding a manifest,
//! a consistent copy of the SQLite database taken while the server runs (`VACUUM INTO`),
//! the uploaded files it refers to and, when the server key comes from the key file, that
//! key. On PostgreSQL it checks the server and the migrations and explains `pg_dump`.
//! Restore writes only into an empty data directory that no server holds.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use store_postgres::maintenance::PostgresMaintenance;
use store_sqlite::maintenance::{known_migrations, SqliteMaintenance};

use crate::config::Settings;
use crate::private_files;
use crate::redact::redact_url;
use crate::server_key;

mod archive;
mod restore;
pub use archive::*;
pub use restore::*;

/// What a backup file says it is.
pub const FORMAT: &str = "gatehouse-backup";
/// Raised when a reader of an older version could not restore the file correctly.
pub const FORMAT_VERSION: u32 = 1;

const MANIFEST: &str = "manifest.json";
const DATABASE: &str = "gatehouse.db";
const KEY_FILE: &str = "secret.key";
const FILES_DIR: &str = "files";

/// The first entry of a backup file.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    /// The Gatehouse that wrote it: version and commit.
    pub written_by: String,
    pub created_at: String,
    pub backend: String,
    /// The database's migrations, applied in this order.
    pub migrations: Vec<String>,
    /// Uploaded files included.
    pub files: usize,
    /// Whether the file store is in the backup ("included") or where it is instead.
    pub file_store: String,
    /// Whether the server key is in the backup ("included") or where it comes from.
    pub server_key: String,
    /// The ids of the keys the database's secrets need (never the keys).
    pub key_ids: Vec<String>,
}

/// A directory removed (with what it holds) when dropped.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The output file, removed when dropped unless kept.
struct Output {
    path: PathBuf,
    keep: bool,
}

impl Drop for Output {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}
