//! What the copy knows about the schema: every table of the latest migration, in an order
//! that satisfies the foreign keys, with each column's type on both backends; and the checks
//! that a database really has that schema, so a table or column added by a later migration
//! stops the copy instead of being left behind. Never reads or writes rows.

use sqlx::{PgConnection, SqliteConnection};

use crate::{CopyError, Side};

pub(crate) use crate::history::{pending_migrations, postgres_history, sqlite_history};

/// How a column is stored: the SQLite representation on the left, PostgreSQL's on the right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// TEXT uuid -> UUID.
    Uuid,
    /// TEXT -> TEXT.
    Text,
    /// INTEGER milliseconds since the Unix epoch -> TIMESTAMPTZ.
    Time,
    /// INTEGER 0/1 -> BOOLEAN.
    Bool,
    /// BLOB -> BYTEA.
    Bytes,
    /// TEXT holding JSON -> JSONB.
    Json,
    /// INTEGER -> INTEGER (32 bits in PostgreSQL).
    Int32,
    /// INTEGER -> BIGINT.
    Int64,
    /// REAL -> DOUBLE PRECISION.
    Float64,
}

impl Kind {
    /// The declared type in the SQLite migrations.
    fn sqlite_type(self) -> &'static str {
        match self {
            Self::Uuid | Self::Text | Self::Json => "TEXT",
            Self::Time | Self::Bool | Self::Int32 | Self::Int64 => "INTEGER",
            Self::Bytes => "BLOB",
            Self::Float64 => "REAL",
        }
    }

    /// The type as `information_schema.columns.data_type` names it.
    fn postgres_type(self) -> &'static str {
        match self {
            Self::Uuid => "uuid",
            Self::Text => "text",
            Self::Time => "timestamp with time zone",
            Self::Bool => "boolean",
            Self::Bytes => "bytea",
            Self::Json => "jsonb",
            Self::Int32 => "integer",
            Self::Int64 => "bigint",
            Self::Float64 => "double precision",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
    /// Never printed in an error (password hashes).
    pub secret: bool,
}

const fn required(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        nullable: false,
        secret: false,
    }
}

const fn optional(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        nullable: true,
        secret: false,
    }
}

const fn secret(column: Column) -> Column {
    Column {
        secret: true,
        ..column
    }
}

#[derive(Debug)]
pub(crate) struct Table {
    pub name: &'static str,
    /// The primary key's columns: the copy pages and samples in this order.
    pub key: &'static [&'static str],
    pub columns: &'static [Column],
    /// Which rows the copy writes, as a condition both dialects read alike; `None` for all.
    /// The others are written by the migrations on both sides (the built-in roles), so
    /// they are neither copied, nor counted, nor a sign that the target holds data.
    pub copied: Option<&'static str>,
    /// A column numbered by the database (SQLite AUTOINCREMENT, a PostgreSQL sequence): after
    /// the copy the target's sequence continues after the highest number the source ever
    /// gave, so no id is handed out twice, not even a deleted one's.
    pub serial: Option<&'static str>,
}

impl Table {
    /// Positions of the key's columns in `columns`.
    pub fn key_positions(&self) -> Vec<usize> {
        self.key
            .iter()
            .map(|k| {
                self.columns
                    .iter()
                    .position(|c| c.name == *k)
                    .expect("every key column is listed in its table's columns")
            })
            .collect()
    }

    pub fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A table whose every row is copied.
const fn all(
    name: &'static str,
    key: &'static [&'static str],
    columns: &'static [Column],
) -> Table {
    Table {
        name,
        key,
        columns,
        copied: None,
        serial: None,
    }
}

use Kind::*;

/// Every table of the latest migration (`0004_second_factor_files`), parents before children:
/// `user_roles` references `users` and `roles`, `org_members` references `organizations` and
/// `users`, `chunks` references `users` and `files`, every other owned table only `users`;
/// `users.avatar_file_id` is not a foreign key.
///
/// Login challenges are copied like every other short-lived row (sessions, one-time codes,
/// throttling counters): a copy is a snapshot of the deployment, and one in the middle of a
/// two-step login can finish it on the target within the challenge's five minutes.
pub(crate) const TABLES: &[Table] = &[
    all(
        "users",
        &["id"],
        &[
            required("id", Uuid),
            required("username", Text),
            required("email", Text),
            required("email_verified", Bool),
            required("status", Text),
            secret(optional("password_hash", Text)),
            required("profile", Json),
            optional("avatar_file_id", Uuid),
            required("created_at", Time),
            required("updated_at", Time),
            required("number", Int64),
            required("email_visible", Bool),
        ],
    ),
    Table {
        name: "roles",
        key: &["id"],
        columns: &[
            required("id", Int64),
            required("name", Text),
            required("description", Text),
            required("permissions", Json),
            required("builtin", Bool),
            required("created_at", Time),
        ],
        // `admin` (1) and `user` (2): both migrations insert them.
        copied: Some("builtin = FALSE"),
        serial: Some("id"),
    },
    all(
        "user_roles",
        &["user_id", "role_id"],
        &[required("user_id", Uuid), required("role_id", Int64)],
    ),
    all(
        "organizations",
        &["id"],
        &[
            required("id", Uuid),
            required("name", Text),
            required("created_at", Time),
            required("short_reset_codes", Bool),
        ],
    ),
    all(
        "org_members",
        &["org_id", "user_id"],
        &[
            required("org_id", Uuid),
            required("user_id", Uuid),
            required("role", Text),
            required("created_at", Time),
        ],
    ),
    all(
        "sessions",
        &["id"],
        &[
            required("id", Uuid),
            required("user_id", Uuid),
            required("secret_hash", Bytes),
            required("created_at", Time),
            required("last_seen_at", Time),
            required("expires_at", Time),
            optional("client_ip", Text),
            optional("user_agent", Text),
            optional("proved_at", Time),
        ],
    ),
    all(
        "api_tokens",
        &["id"],
        &[
            required("id", Uuid),
            required("user_id", Uuid),
            required("name", Text),
            required("secret_hash", Bytes),
            required("mask", Text),
            required("created_at", Time),
            optional("expires_at", Time),
            required("disabled", Bool),
            optional("last_used_at", Time),
            optional("rotated_at", Time),
        ],
    ),
    all(
        "files",
        &["id"],
        &[
            required("id", Uuid),
            required("owner_id", Uuid),
            required("purpose", Text),
            required("content_type", Text),
            required("size", Int64),
            required("created_at", Time),
            required("name", Text),
            optional("link", Text),
            optional("metadata", Json),
            optional("tag_set", Text),
        ],
    ),
    all(
        "chunks",
        &["id"],
        &[
            required("id", Uuid),
            required("user_id", Uuid),
            required("content", Text),
            optional("html", Text),
            optional("link", Text),
            optional("metadata", Json),
            optional("tag_set", Text),
            required("weight", Float64),
            optional("tracking_id", Text),
            optional("file_id", Uuid),
            required("created_at", Time),
            required("updated_at", Time),
        ],
    ),
    all(
        "totp",
        &["user_id"],
        &[
            required("user_id", Uuid),
            secret(required("secret", Bytes)),
            required("confirmed", Bool),
            optional("last_step", Int64),
            required("created_at", Time),
        ],
    ),
    all(
        "recovery_codes",
        // A hash of a code with 50 random bits, so never printed (see `rows::RawKey`).
        &["user_id", "code_hash"],
        &[
            required("user_id", Uuid),
            secret(required("code_hash", Bytes)),
            required("created_at", Time),
            optional("used_at", Time),
        ],
    ),
    all(
        "login_challenges",
        &["id"],
        &[
            required("id", Uuid),
            required("user_id", Uuid),
            required("secret_hash", Bytes),
            required("created_at", Time),
            required("expires_at", Time),
            required("attempts", Int32),
            optional("consumed_at", Time),
            optional("client_ip", Text),
            optional("user_agent", Text),
        ],
    ),
    all(
        "one_time_codes",
        &["id"],
        &[
            required("id", Uuid),
            required("user_id", Uuid),
            required("purpose", Text),
            required("code_hash", Bytes),
            required("link_hash", Bytes),
            required("created_at", Time),
            required("code_expires_at", Time),
            required("link_expires_at", Time),
            required("attempts", Int32),
            optional("consumed_at", Time),
        ],
    ),
    all(
        "rate_limits",
        &["key"],
        &[
            required("key", Text),
            required("window_start", Time),
            required("hits", Int32),
            optional("blocked_until", Time),
            required("expires_at", Time),
        ],
    ),
    all(
        "known_addresses",
        &["user_id", "address"],
        &[
            required("user_id", Uuid),
            required("address", Text),
            required("succeeded_at", Time),
        ],
    ),
    all(
        "audit_events",
        &["id"],
        &[
            required("id", Uuid),
            required("at", Time),
            required("action", Text),
            optional("actor_id", Uuid),
            optional("subject_id", Uuid),
            required("outcome", Text),
            optional("client_ip", Text),
            optional("user_agent", Text),
            optional("detail", Text),
        ],
    ),
    all(
        "outbox",
        &["id"],
        &[
            required("id", Uuid),
            required("to_address", Text),
            required("subject", Text),
            required("text_body", Text),
            required("html_body", Text),
            required("created_at", Time),
            required("status", Text),
            required("attempts", Int32),
            required("next_attempt_at", Time),
            optional("leased_until", Time),
            optional("last_error", Text),
            optional("sent_at", Time),
        ],
    ),
];

/// sqlx's own bookkeeping: each side keeps its own, it is never copied.
pub(crate) const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// A column as a database describes it.
struct Found {
    name: String,
    declared_type: String,
    nullable: bool,
}

/// Checks that the SQLite database has exactly the tables and columns of `TABLES` (besides
/// SQLite's and sqlx's own).
pub(crate) async fn check_sqlite(conn: &mut SqliteConnection) -> Result<(), CopyError> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> ? ORDER BY name",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(&mut *conn)
    .await
    .map_err(CopyError::sqlx(Side::Source, "listing the source's tables"))?;
    let mut problems = Vec::new();
    for name in &names {
        if !TABLES.iter().any(|t| t.name == name) {
            problems.push(format!("table {name} is not copied by this build"));
        }
    }
    for table in TABLES {
        if !names.iter().any(|n| n == table.name) {
            problems.push(format!("table {} is missing", table.name));
            continue;
        }
        let rows: Vec<(String, String, bool, i64)> = sqlx::query_as(
            "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?) ORDER BY cid",
        )
        .bind(table.name)
        .fetch_all(&mut *conn)
        .await
        .map_err(CopyError::sqlx(
            Side::Source,
            "reading the source's columns",
        ))?;
        let key_columns = rows.iter().filter(|(_, _, _, pk)| *pk > 0).count();
        let found = rows
            .into_iter()
            .map(|(name, declared_type, not_null, pk)| {
                let declared_type = declared_type.to_uppercase();
                // A table's only key column declared INTEGER is its rowid, never NULL, though
                // SQLite reports it nullable unless it says NOT NULL.
                let rowid = pk > 0 && key_columns == 1 && declared_type == "INTEGER";
                Found {
                    name,
                    declared_type,
                    nullable: !not_null && !rowid,
                }
            })
            .collect::<Vec<_>>();
        compare_columns(table, &found, Kind::sqlite_type, &mut problems);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CopyError::Schema {
            side: Side::Source,
            problems,
        })
    }
}

/// Checks that every table of `TABLES` exists in the PostgreSQL database (its current
/// schema) with exactly these columns and types. Other tables there are not Gatehouse's
/// concern: what could be left behind is decided by the source's check.
pub(crate) async fn check_postgres(conn: &mut PgConnection) -> Result<(), CopyError> {
    let mut problems = Vec::new();
    for table in TABLES {
        let rows: Vec<(String, String, bool)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text, is_nullable = 'YES' \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 \
             ORDER BY ordinal_position",
        )
        .bind(table.name)
        .fetch_all(&mut *conn)
        .await
        .map_err(CopyError::sqlx(
            Side::Target,
            "reading the target's columns",
        ))?;
        if rows.is_empty() {
            problems.push(format!("table {} is missing", table.name));
            continue;
        }
        let found = rows
            .into_iter()
            .map(|(name, declared_type, nullable)| Found {
                name,
                declared_type,
                nullable,
            })
            .collect::<Vec<_>>();
        compare_columns(table, &found, Kind::postgres_type, &mut problems);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CopyError::Schema {
            side: Side::Target,
            problems,
        })
    }
}

fn compare_columns(
    table: &Table,
    found: &[Found],
    type_of: fn(Kind) -> &'static str,
    problems: &mut Vec<String>,
) {
    for f in found {
        if !table.columns.iter().any(|c| c.name == f.name) {
            problems.push(format!(
                "column {}.{} is not copied by this build",
                table.name, f.name
            ));
        }
    }
    for column in table.columns {
        let Some(f) = found.iter().find(|f| f.name == column.name) else {
            problems.push(format!("column {}.{} is missing", table.name, column.name));
            continue;
        };
        let expected = type_of(column.kind);
        if f.declared_type != expected {
            problems.push(format!(
                "column {}.{} is {}, expected {expected}",
                table.name, column.name, f.declared_type
            ));
        }
        if f.nullable != column.nullable {
            problems.push(format!(
                "column {}.{} is {}, expected {}",
                table.name,
                column.name,
                null_word(f.nullable),
                null_word(column.nullable)
            ));
        }
    }
}

fn null_word(nullable: bool) -> &'static str {
    if nullable {
        "nullable"
    } else {
        "NOT NULL"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Applied;

    fn applied(version: i64, description: &str) -> Applied {
        Applied {
            version,
            description: description.into(),
            success: true,
        }
    }

    fn known() -> Vec<String> {
        vec!["0001_foundation".into(), "0002_lifecycle".into()]
    }

    #[test]
    fn a_current_history_has_nothing_pending() {
        let history = [applied(1, "foundation"), applied(2, "lifecycle")];
        assert!(pending_migrations(Side::Source, &history, &known())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn an_older_history_lists_what_is_pending() {
        let history = [applied(1, "foundation")];
        assert_eq!(
            pending_migrations(Side::Source, &history, &known()).unwrap(),
            vec!["0002_lifecycle".to_owned()]
        );
    }

    #[test]
    fn a_newer_history_is_refused_naming_the_unknown_migration() {
        let history = [
            applied(1, "foundation"),
            applied(2, "lifecycle"),
            applied(3, "webauthn keys"),
        ];
        let err = pending_migrations(Side::Source, &history, &known()).unwrap_err();
        assert!(matches!(err, CopyError::Newer { .. }), "{err}");
        assert!(err.to_string().contains("0003_webauthn_keys"), "{err}");
    }

    #[test]
    fn a_failed_migration_is_refused() {
        let mut failed = applied(2, "lifecycle");
        failed.success = false;
        let err = pending_migrations(Side::Target, &[applied(1, "foundation"), failed], &known())
            .unwrap_err();
        assert!(err.to_string().contains("failed part-way"), "{err}");
    }

    #[test]
    fn every_key_column_is_a_required_uuid_text_integer_or_bytes_column_of_its_table() {
        // Paging and lookups bind keys as SQLite's text, integer or blob and PostgreSQL's
        // UUID, text, bigint or bytea (`rows::RawKey`).
        for table in TABLES {
            for position in table.key_positions() {
                let column = &table.columns[position];
                assert!(!column.nullable, "{}.{}", table.name, column.name);
                assert!(
                    matches!(
                        column.kind,
                        Kind::Uuid | Kind::Text | Kind::Int64 | Kind::Bytes
                    ),
                    "{}.{}",
                    table.name,
                    column.name
                );
            }
        }
    }

    /// The tables left by running `migrations` in order: each statement's CREATE TABLE,
    /// DROP TABLE and ALTER TABLE ... RENAME TO replayed on a list of names.
    fn tables_after(migrations: &[String]) -> Vec<String> {
        let mut tables: Vec<String> = Vec::new();
        for sql in migrations {
            let without_comments: String = sql
                .lines()
                .map(|line| line.split("--").next().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n");
            for statement in without_comments.split(';') {
                let words: Vec<&str> = statement.split_whitespace().collect();
                match words.as_slice() {
                    ["CREATE", "TABLE", name, ..] => tables.push((*name).to_owned()),
                    ["DROP", "TABLE", "IF", "EXISTS", name] | ["DROP", "TABLE", name] => {
                        tables.retain(|t| t != name);
                    }
                    ["ALTER", "TABLE", name, "RENAME", "TO", new] => {
                        for table in tables.iter_mut().filter(|t| t == name) {
                            *table = (*new).to_owned();
                        }
                    }
                    _ => {}
                }
            }
        }
        tables.sort_unstable();
        tables
    }

    #[test]
    fn replaying_migrations_follows_drops_and_renames() {
        let sql = [
            "CREATE TABLE a (x INTEGER); CREATE TABLE b (y TEXT); -- CREATE TABLE c;".to_owned(),
            "CREATE TABLE b2 (y TEXT);\nDROP TABLE b;\nALTER TABLE b2 RENAME TO b;".to_owned(),
        ];
        assert_eq!(tables_after(&sql), vec!["a", "b"]);
    }

    #[test]
    fn the_migrations_create_exactly_the_tables_copied() {
        // The migration files themselves, both backends', so a new CREATE TABLE fails here
        // even on a machine without PostgreSQL.
        let mut copied: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        copied.sort_unstable();
        for backend in ["store-sqlite", "store-postgres"] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(backend)
                .join("migrations");
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|entry| entry.unwrap().path())
                .collect();
            // In the order they run: by version, which leads each file's name.
            files.sort();
            let migrations: Vec<String> = files
                .iter()
                .map(|path| std::fs::read_to_string(path).unwrap())
                .collect();
            assert_eq!(tables_after(&migrations), copied, "{}", dir.display());
        }
    }
}
