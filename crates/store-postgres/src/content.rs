//! The SQL of what users keep here: files' records (uploads and the avatar; the bytes are the
//! `FileStore`'s) with the per-user quota, and chunks (short text records) page by page. Free
//! functions over a connection, like `lifecycle.rs`, so `lib.rs` decides the transactions.
//!
//! Per-user decisions are made under the owner's row lock (`lock_user`): the quota's sum and
//! the insert, and which file is the avatar when one is deleted. Never reads or writes bytes.

use accounts::domain::Profile;
use accounts::files::FileId;
use accounts::store::{ChunkRecord, FileRecord, StoreError};
use accounts::UserId;
use chrono::Utc;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::{backend, lock_user, map_err, stored};

/// The files' columns as `file_from_row` reads them.
pub(crate) const FILE_COLUMNS: &str = "id, owner_id, purpose, content_type, size, name, link, \
     metadata::text AS metadata, tag_set, created_at";

const CHUNK_COLUMNS: &str = "id, user_id, content, html, link, metadata::text AS metadata, \
     tag_set, weight, tracking_id, file_id, created_at, updated_at";

/// JSON as bound for a `$n::jsonb` parameter.
fn json_text(value: Option<&serde_json::Value>) -> Result<Option<String>, StoreError> {
    value
        .map(|v| serde_json::to_string(v).map_err(backend))
        .transpose()
}

/// A JSONB column selected as `::text`.
fn json_column(row: &PgRow, column: &str) -> Result<Option<serde_json::Value>, StoreError> {
    let text: Option<String> = row.try_get(column).map_err(backend)?;
    text.map(|t| serde_json::from_str(&t).map_err(backend))
        .transpose()
}

pub(crate) fn file_from_row(row: &PgRow) -> Result<FileRecord, StoreError> {
    let size: i64 = row.try_get("size").map_err(backend)?;
    Ok(FileRecord {
        id: FileId(row.try_get("id").map_err(backend)?),
        owner_id: UserId(row.try_get("owner_id").map_err(backend)?),
        purpose: row.try_get("purpose").map_err(backend)?,
        content_type: row.try_get("content_type").map_err(backend)?,
        size: u64::try_from(size).map_err(backend)?,
        name: row.try_get("name").map_err(backend)?,
        link: row.try_get("link").map_err(backend)?,
        metadata: json_column(row, "metadata")?,
        tag_set: row.try_get("tag_set").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

/// Writes the file's record as it is (the avatar's and uploads alike).
pub(crate) async fn insert_file_row(
    conn: &mut PgConnection,
    file: &FileRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO files (id, owner_id, purpose, content_type, size, name, link, metadata, \
         tag_set, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10)",
    )
    .bind(file.id.0)
    .bind(file.owner_id.0)
    .bind(&file.purpose)
    .bind(&file.content_type)
    .bind(i64::try_from(file.size).map_err(backend)?)
    .bind(&file.name)
    .bind(file.link.as_deref())
    .bind(json_text(file.metadata.as_ref())?)
    .bind(file.tag_set.as_deref())
    .bind(stored(file.created_at))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn file(
    conn: &mut PgConnection,
    id: FileId,
) -> Result<Option<FileRecord>, StoreError> {
    let sql = format!("SELECT {FILE_COLUMNS} FROM files WHERE id = $1");
    sqlx::query(&sql)
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?
        .map(|row| file_from_row(&row))
        .transpose()
}

/// Sums the owner's files and inserts this one unless the sum would pass `quota`, under the
/// owner's row lock: parallel uploads (and avatar replacements, which take the same lock)
/// are counted one after another, each seeing the ones before it.
pub(crate) async fn insert_file(
    conn: &mut PgConnection,
    file: &FileRecord,
    quota: u64,
) -> Result<(), StoreError> {
    lock_user(&mut *conn, file.owner_id).await?;
    let used: i64 =
        sqlx::query_scalar("SELECT COALESCE(SUM(size), 0)::bigint FROM files WHERE owner_id = $1")
            .bind(file.owner_id.0)
            .fetch_one(&mut *conn)
            .await
            .map_err(map_err)?;
    let used = u64::try_from(used).unwrap_or(0);
    if used.saturating_add(file.size) > quota {
        return Err(StoreError::LimitReached);
    }
    insert_file_row(conn, file).await
}

pub(crate) async fn list_files(
    conn: &mut PgConnection,
    owner: UserId,
) -> Result<Vec<FileRecord>, StoreError> {
    let sql = format!(
        "SELECT {FILE_COLUMNS} FROM files WHERE owner_id = $1 ORDER BY created_at DESC, id DESC"
    );
    sqlx::query(&sql)
        .bind(owner.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?
        .iter()
        .map(file_from_row)
        .collect()
}

/// Deletes one of the owner's files' record; when it was the avatar, the avatar link and the
/// `picture` claim go too. The owner's row is locked first, so a parallel avatar replacement
/// cannot slip between reading which file is the avatar and clearing it. `false` when the
/// owner has no such file; the caller then rolls back (nothing was written).
pub(crate) async fn delete_file(
    conn: &mut PgConnection,
    owner: UserId,
    id: FileId,
) -> Result<bool, StoreError> {
    let Some(row) = sqlx::query(
        "SELECT profile::text AS profile, avatar_file_id FROM users WHERE id = $1 \
         FOR NO KEY UPDATE",
    )
    .bind(owner.0)
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_err)?
    else {
        return Ok(false);
    };
    let deleted = sqlx::query("DELETE FROM files WHERE id = $1 AND owner_id = $2")
        .bind(id.0)
        .bind(owner.0)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?
        .rows_affected();
    if deleted == 0 {
        return Ok(false);
    }
    let avatar: Option<Uuid> = row.try_get("avatar_file_id").map_err(backend)?;
    if avatar == Some(id.0) {
        let profile: String = row.try_get("profile").map_err(backend)?;
        let mut profile: Profile = serde_json::from_str(&profile).map_err(backend)?;
        profile.picture = None;
        // The trait passes no clock here (as in store-sqlite): the time only moves forward.
        sqlx::query(
            "UPDATE users SET profile = $1::jsonb, avatar_file_id = NULL, \
             updated_at = GREATEST(updated_at, $2) WHERE id = $3",
        )
        .bind(serde_json::to_string(&profile).map_err(backend)?)
        .bind(stored(Utc::now()))
        .bind(owner.0)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    Ok(true)
}

fn chunk_from_row(row: &PgRow) -> Result<ChunkRecord, StoreError> {
    Ok(ChunkRecord {
        id: row.try_get("id").map_err(backend)?,
        user_id: UserId(row.try_get("user_id").map_err(backend)?),
        content: row.try_get("content").map_err(backend)?,
        html: row.try_get("html").map_err(backend)?,
        link: row.try_get("link").map_err(backend)?,
        metadata: json_column(row, "metadata")?,
        tag_set: row.try_get("tag_set").map_err(backend)?,
        weight: row.try_get("weight").map_err(backend)?,
        tracking_id: row.try_get("tracking_id").map_err(backend)?,
        file_id: row
            .try_get::<Option<Uuid>, _>("file_id")
            .map_err(backend)?
            .map(FileId),
        created_at: row.try_get("created_at").map_err(backend)?,
        updated_at: row.try_get("updated_at").map_err(backend)?,
    })
}

/// Fails with `Conflict(TrackingId)` (index `chunks_tracking_key`, see `map_err`).
pub(crate) async fn insert_chunk(
    conn: &mut PgConnection,
    chunk: &ChunkRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO chunks (id, user_id, content, html, link, metadata, tag_set, weight, \
         tracking_id, file_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12)",
    )
    .bind(chunk.id)
    .bind(chunk.user_id.0)
    .bind(&chunk.content)
    .bind(chunk.html.as_deref())
    .bind(chunk.link.as_deref())
    .bind(json_text(chunk.metadata.as_ref())?)
    .bind(chunk.tag_set.as_deref())
    .bind(chunk.weight)
    .bind(chunk.tracking_id.as_deref())
    .bind(chunk.file_id.map(|f| f.0))
    .bind(stored(chunk.created_at))
    .bind(stored(chunk.updated_at))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// One page of the user's chunks, newest first, and their count, from one statement (so
/// one snapshot: the page and the count agree). The count's row is always there, so a page
/// past the end still says how many there are.
pub(crate) async fn list_chunks(
    conn: &mut PgConnection,
    user: UserId,
    offset: u64,
    limit: u32,
) -> Result<(Vec<ChunkRecord>, u64), StoreError> {
    let sql = format!(
        "SELECT total.n AS total, page.* \
         FROM (SELECT count(*) AS n FROM chunks WHERE user_id = $1) AS total \
         LEFT JOIN LATERAL ( \
             SELECT {CHUNK_COLUMNS} FROM chunks WHERE user_id = $1 \
             ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT $3) AS page ON TRUE \
         ORDER BY page.created_at DESC, page.id DESC"
    );
    let rows = sqlx::query(&sql)
        .bind(user.0)
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    let mut total = 0;
    let mut chunks = Vec::with_capacity(rows.len());
    for row in &rows {
        let n: i64 = row.try_get("total").map_err(backend)?;
        total = u64::try_from(n).unwrap_or(0);
        // The count's row alone (no chunk on this page) has NULL chunk columns.
        if row
            .try_get::<Option<Uuid>, _>("id")
            .map_err(backend)?
            .is_some()
        {
            chunks.push(chunk_from_row(row)?);
        }
    }
    Ok((chunks, total))
}

pub(crate) async fn delete_chunk(
    conn: &mut PgConnection,
    user: UserId,
    id: Uuid,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM chunks WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user.0)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}
