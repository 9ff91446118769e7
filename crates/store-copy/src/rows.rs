//! One row as both backends agree on it: each column decoded from its own representation
//! (SQLite's INTEGER millis, TEXT uuids, 0/1 flags, TEXT JSON; PostgreSQL's native types)
//! into the same normalised [`Value`], so a row read from either side compares field by field,
//! and bound to PostgreSQL in its native type.

use std::fmt;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::query_builder::Separated;
use sqlx::sqlite::SqliteRow;
use sqlx::{Postgres, Row};
use uuid::Uuid;

use crate::schema::{Column, Kind, Table};
use crate::CopyError;

/// A column's value after normalisation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Uuid(Uuid),
    Text(String),
    /// Whole milliseconds: SQLite holds nothing finer, and PostgreSQL must hold the same.
    Time(DateTime<Utc>),
    Bool(bool),
    Bytes(Vec<u8>),
    /// Compared as JSON values, so PostgreSQL's JSONB key order and spacing do not matter.
    Json(serde_json::Value),
    Int32(i32),
    Int64(i64),
    Float64(f64),
}

impl Value {
    /// For error messages: secrets and hashes are never printed, long texts are shortened.
    pub fn describe(&self, column: &Column) -> String {
        if column.secret && *self != Value::Null {
            return "[REDACTED]".into();
        }
        match self {
            Self::Null => "NULL".into(),
            Self::Uuid(u) => u.to_string(),
            Self::Text(t) => shorten(&format!("{t:?}")),
            // Every digit, so a sub-millisecond difference shows.
            Self::Time(t) => t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            Self::Bool(b) => b.to_string(),
            Self::Bytes(b) => format!("{} bytes", b.len()),
            Self::Json(j) => shorten(&j.to_string()),
            Self::Int32(n) => n.to_string(),
            Self::Int64(n) => n.to_string(),
            Self::Float64(x) => x.to_string(),
        }
    }
}

fn shorten(text: &str) -> String {
    const MAX: usize = 80;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    }
}

/// One key column's value as SQLite holds it: TEXT (uuids, names), INTEGER (role ids) or
/// BLOB (recovery codes' hashes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawKey {
    Text(String),
    Integer(i64),
    Bytes(Vec<u8>),
}

impl fmt::Display for RawKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(t) => f.write_str(t),
            Self::Integer(n) => n.fmt(f),
            // Never the bytes: a key of bytes is a hash of a secret (recovery codes carry
            // few enough random bits that their hashes could be searched).
            Self::Bytes(b) => write!(f, "[{} bytes]", b.len()),
        }
    }
}

/// Binds a key value to a SQLite statement as SQLite holds it.
pub(crate) fn bind_raw<'q>(
    query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    key: &RawKey,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    match key {
        RawKey::Text(t) => query.bind(t.clone()),
        RawKey::Integer(n) => query.bind(*n),
        RawKey::Bytes(b) => query.bind(b.clone()),
    }
}

/// Names a row in messages: its key, e.g. `0199…` or `user_id=0199…, role_id=3`.
pub(crate) fn row_label(table: &Table, raw_key: &[RawKey]) -> String {
    match raw_key {
        [one] => one.to_string(),
        many => table
            .key
            .iter()
            .zip(many)
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The key's columns as SQLite holds them, for paging and looking rows up again.
pub(crate) fn sqlite_raw_key(table: &Table, row: &SqliteRow) -> Result<Vec<RawKey>, CopyError> {
    table
        .key_positions()
        .into_iter()
        .map(|i| {
            let column = &table.columns[i];
            let (read, expected) = match column.kind {
                Kind::Int32 | Kind::Int64 => {
                    (row.try_get::<i64, _>(i).map(RawKey::Integer), "an integer")
                }
                Kind::Bytes => (row.try_get::<Vec<u8>, _>(i).map(RawKey::Bytes), "a blob"),
                _ => (row.try_get::<String, _>(i).map(RawKey::Text), "text"),
            };
            read.map_err(|e| CopyError::Value {
                table: table.name,
                row: "?".into(),
                column: column.name,
                reason: format!("its key cannot be read as {expected}: {e}"),
            })
        })
        .collect()
}

/// Decodes a row selected as `table.column_list()` from SQLite, checking that each value can
/// be stored by PostgreSQL as it is.
pub(crate) fn from_sqlite(
    table: &Table,
    row: &SqliteRow,
    label: &str,
) -> Result<Vec<Value>, CopyError> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            sqlite_value(column, row, i).map_err(|reason| CopyError::Value {
                table: table.name,
                row: label.to_owned(),
                column: column.name,
                reason,
            })
        })
        .collect()
}

fn sqlite_value(column: &Column, row: &SqliteRow, i: usize) -> Result<Value, String> {
    fn get<'r, T>(row: &'r SqliteRow, i: usize) -> Result<Option<T>, String>
    where
        T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    {
        row.try_get::<Option<T>, _>(i).map_err(|e| e.to_string())
    }
    let value = match column.kind {
        Kind::Uuid => get::<String>(row, i)?
            .map(|text| {
                Uuid::parse_str(&text)
                    .map(Value::Uuid)
                    .map_err(|e| format!("{text:?} is not a UUID: {e}"))
            })
            .transpose()?,
        Kind::Text => get::<String>(row, i)?
            .map(|text| {
                if text.contains('\0') {
                    Err("holds a NUL character, which PostgreSQL cannot store in text".to_owned())
                } else {
                    Ok(Value::Text(text))
                }
            })
            .transpose()?,
        Kind::Time => get::<i64>(row, i)?
            .map(|ms| {
                DateTime::from_timestamp_millis(ms)
                    .map(Value::Time)
                    .ok_or_else(|| format!("{ms} ms is out of range for a time"))
            })
            .transpose()?,
        Kind::Bool => get::<i64>(row, i)?
            .map(|n| match n {
                0 => Ok(Value::Bool(false)),
                1 => Ok(Value::Bool(true)),
                other => Err(format!("{other} is not a flag (0 or 1)")),
            })
            .transpose()?,
        Kind::Bytes => get::<Vec<u8>>(row, i)?.map(Value::Bytes),
        Kind::Json => get::<String>(row, i)?
            .map(|text| {
                let json: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| format!("is not JSON: {e}"))?;
                if holds_nul(&json) {
                    return Err("holds a NUL character, which JSONB cannot store".to_owned());
                }
                Ok(Value::Json(json))
            })
            .transpose()?,
        Kind::Int32 => get::<i64>(row, i)?
            .map(|n| {
                i32::try_from(n)
                    .map(Value::Int32)
                    .map_err(|_| format!("{n} does not fit PostgreSQL's INTEGER"))
            })
            .transpose()?,
        Kind::Int64 => get::<i64>(row, i)?.map(Value::Int64),
        Kind::Float64 => get::<f64>(row, i)?.map(Value::Float64),
    };
    match value {
        Some(value) => Ok(value),
        None if column.nullable => Ok(Value::Null),
        None => Err("is NULL but the column is NOT NULL".into()),
    }
}

fn holds_nul(json: &serde_json::Value) -> bool {
    match json {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(holds_nul),
        serde_json::Value::Object(map) => map
            .iter()
            .any(|(key, value)| key.contains('\0') || holds_nul(value)),
        _ => false,
    }
}

/// The select list for reading `table` back from PostgreSQL (JSONB as its text).
pub(crate) fn postgres_select_list(table: &Table) -> String {
    table
        .columns
        .iter()
        .map(|c| match c.kind {
            Kind::Json => format!("{0}::text AS {0}", c.name),
            _ => c.name.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Decodes a row selected with `postgres_select_list` from PostgreSQL.
pub(crate) fn from_postgres(
    table: &Table,
    row: &PgRow,
    label: &str,
) -> Result<Vec<Value>, CopyError> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            postgres_value(column, row, i).map_err(|reason| CopyError::Value {
                table: table.name,
                row: label.to_owned(),
                column: column.name,
                reason: format!("cannot be read back from the target: {reason}"),
            })
        })
        .collect()
}

fn postgres_value(column: &Column, row: &PgRow, i: usize) -> Result<Value, String> {
    fn get<'r, T>(row: &'r PgRow, i: usize) -> Result<Option<T>, String>
    where
        T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
    {
        row.try_get::<Option<T>, _>(i).map_err(|e| e.to_string())
    }
    let value = match column.kind {
        Kind::Uuid => get::<Uuid>(row, i)?.map(Value::Uuid),
        Kind::Text => get::<String>(row, i)?.map(Value::Text),
        Kind::Time => get::<DateTime<Utc>>(row, i)?.map(Value::Time),
        Kind::Bool => get::<bool>(row, i)?.map(Value::Bool),
        Kind::Bytes => get::<Vec<u8>>(row, i)?.map(Value::Bytes),
        Kind::Json => get::<String>(row, i)?
            .map(|text| serde_json::from_str(&text).map(Value::Json))
            .transpose()
            .map_err(|e| e.to_string())?,
        Kind::Int32 => get::<i32>(row, i)?.map(Value::Int32),
        Kind::Int64 => get::<i64>(row, i)?.map(Value::Int64),
        Kind::Float64 => get::<f64>(row, i)?.map(Value::Float64),
    };
    Ok(value.unwrap_or(Value::Null))
}

/// Binds `value` as one parameter of a PostgreSQL statement, in the column's native type.
pub(crate) fn bind(
    target: &mut Separated<'_, '_, Postgres, &'static str>,
    kind: Kind,
    value: Value,
) {
    match (kind, value) {
        (Kind::Json, Value::Json(json)) => {
            target.push_bind(json.to_string());
            target.push_unseparated("::jsonb");
        }
        (Kind::Json, _) => {
            target.push_bind(None::<String>);
            target.push_unseparated("::jsonb");
        }
        (_, Value::Uuid(u)) => {
            target.push_bind(u);
        }
        (_, Value::Text(t)) => {
            target.push_bind(t);
        }
        (_, Value::Time(t)) => {
            target.push_bind(t);
        }
        (_, Value::Bool(b)) => {
            target.push_bind(b);
        }
        (_, Value::Bytes(b)) => {
            target.push_bind(b);
        }
        (_, Value::Int32(n)) => {
            target.push_bind(n);
        }
        (_, Value::Int64(n)) => {
            target.push_bind(n);
        }
        (_, Value::Float64(x)) => {
            target.push_bind(x);
        }
        (_, Value::Json(json)) => {
            target.push_bind(json.to_string());
        }
        (kind, Value::Null) => bind_null(target, kind),
    }
}

/// A NULL of the column's own type, so PostgreSQL never has to guess one.
fn bind_null(target: &mut Separated<'_, '_, Postgres, &'static str>, kind: Kind) {
    match kind {
        Kind::Uuid => target.push_bind(None::<Uuid>),
        Kind::Text | Kind::Json => target.push_bind(None::<String>),
        Kind::Time => target.push_bind(None::<DateTime<Utc>>),
        Kind::Bool => target.push_bind(None::<bool>),
        Kind::Bytes => target.push_bind(None::<Vec<u8>>),
        Kind::Int32 => target.push_bind(None::<i32>),
        Kind::Int64 => target.push_bind(None::<i64>),
        Kind::Float64 => target.push_bind(None::<f64>),
    };
}

/// Binds a key value (from `from_sqlite`) to a PostgreSQL lookup, in its native type. Keys
/// are UUIDs, text or integers and never NULL (checked by the schema's tests).
pub(crate) fn bind_key<'q>(
    query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    value: &Value,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    match value {
        Value::Null => query.bind(None::<String>),
        Value::Uuid(u) => query.bind(*u),
        Value::Text(t) => query.bind(t.clone()),
        Value::Time(t) => query.bind(*t),
        Value::Bool(b) => query.bind(*b),
        Value::Bytes(b) => query.bind(b.clone()),
        Value::Json(j) => query.bind(j.to_string()),
        Value::Int32(n) => query.bind(*n),
        Value::Int64(n) => query.bind(*n),
        Value::Float64(x) => query.bind(*x),
    }
}
