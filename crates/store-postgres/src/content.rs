//! `ContentStore` on PostgreSQL: files' records (uploads and the avatar; the bytes are the
//! `FileStore`'s) with the per-user quota, and chunks (short text records) page by page. The
//! SQL is free functions over a connection, so the impl at the end decides the transactions.
//!
//! Per-user decisions are made under the owner's row lock (`lock_user`): the quota's sum and
//! the insert, and which file is the avatar when one is deleted. Never reads or writes bytes.

use accounts::domain::{Profile, ProfileChange};
use accounts::files::FileId;
use accounts::store::{
    ChunkCursor, ChunkRecord, ContentLimits, ContentStore, ContentUsage, FileCursor, FileRecord,
    StoreError, RECORD_OVERHEAD_BYTES,
};
use accounts::UserId;
use async_trait::async_trait;
use chrono::Utc;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::{backend, lock_user, map_err, stored, PostgresStore};

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

/// Bytes in a text (or `jsonb`, as its text) column, as the quota counts them (`NULL`
/// counts nothing).
macro_rules! bytes_of {
    ($column:literal) => {
        concat!("COALESCE(octet_length(", $column, "), 0)")
    };
}

/// What the owner stores now (files and their records, chunks), leaving out the file
/// `except` (the avatar being replaced); counted as `ContentUsage` documents.
pub(crate) async fn content_usage(
    conn: &mut PgConnection,
    owner: UserId,
    except: Option<FileId>,
) -> Result<ContentUsage, StoreError> {
    let sql = concat!(
        "SELECT (SELECT COUNT(*) FROM files WHERE owner_id = $1 AND id IS DISTINCT FROM $2) AS files, ",
        "(SELECT COALESCE(SUM(size + ",
        bytes_of!("name"), " + ", bytes_of!("purpose"), " + ", bytes_of!("content_type"), " + ",
        bytes_of!("link"), " + ", bytes_of!("metadata::text"), " + ", bytes_of!("tag_set"),
        " + $3), 0)::bigint FROM files WHERE owner_id = $1 AND id IS DISTINCT FROM $2) AS file_bytes, ",
        "(SELECT COUNT(*) FROM chunks WHERE user_id = $1) AS chunks, ",
        "(SELECT COALESCE(SUM(",
        bytes_of!("content"), " + ", bytes_of!("html"), " + ", bytes_of!("link"), " + ",
        bytes_of!("metadata::text"), " + ", bytes_of!("tag_set"), " + ", bytes_of!("tracking_id"),
        " + $3), 0)::bigint FROM chunks WHERE user_id = $1) AS chunk_bytes"
    );
    let row = sqlx::query(sql)
        .bind(owner.0)
        .bind(except.map(|f| f.0))
        .bind(i64::try_from(RECORD_OVERHEAD_BYTES).map_err(backend)?)
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)?;
    let count = |column: &str| -> Result<u64, StoreError> {
        let n: i64 = row.try_get(column).map_err(backend)?;
        u64::try_from(n).map_err(backend)
    };
    Ok(ContentUsage {
        bytes: count("file_bytes")?.saturating_add(count("chunk_bytes")?),
        files: count("files")?,
        chunks: count("chunks")?,
    })
}

/// Inserts the file's record unless the owner would then pass `limits` (`LimitReached`);
/// `replacing` is left out of the count (the avatar a new one replaces). Under the owner's
/// row lock: parallel uploads, avatar replacements and chunks are counted one after another,
/// each seeing the ones before it.
pub(crate) async fn insert_file_within(
    conn: &mut PgConnection,
    file: &FileRecord,
    limits: &ContentLimits,
    replacing: Option<FileId>,
) -> Result<(), StoreError> {
    lock_user(&mut *conn, file.owner_id).await?;
    let used = content_usage(&mut *conn, file.owner_id, replacing).await?;
    if !limits.admit_file(&used, file) {
        return Err(StoreError::LimitReached);
    }
    insert_file_row(conn, file).await
}

/// One page of the owner's files, newest first (see `Store::list_files_page`).
pub(crate) async fn list_files_page(
    conn: &mut PgConnection,
    owner: UserId,
    from: Option<FileCursor>,
    limit: u32,
) -> Result<Vec<FileRecord>, StoreError> {
    let (filter, order) = match from {
        None => ("AND $2::timestamptz IS NULL AND $3::uuid IS NULL", "DESC"),
        Some(FileCursor::After { .. }) => ("AND (created_at, id) < ($2, $3)", "DESC"),
        Some(FileCursor::Before { .. }) => ("AND (created_at, id) > ($2, $3)", "ASC"),
    };
    let sql = format!(
        "SELECT {FILE_COLUMNS} FROM files WHERE owner_id = $1 {filter} \
         ORDER BY created_at {order}, id {order} LIMIT $4"
    );
    let (at, id) = match from {
        Some(FileCursor::After { created_at, id } | FileCursor::Before { created_at, id }) => {
            (Some(stored(created_at)), Some(id.0))
        }
        None => (None, None),
    };
    let mut files = sqlx::query(&sql)
        .bind(owner.0)
        .bind(at)
        .bind(id)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?
        .iter()
        .map(file_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    if matches!(from, Some(FileCursor::Before { .. })) {
        files.reverse();
    }
    Ok(files)
}

/// One page of the user's chunks, newest first (see `Store::list_chunks_page`).
pub(crate) async fn list_chunks_page(
    conn: &mut PgConnection,
    user: UserId,
    from: Option<ChunkCursor>,
    limit: u32,
) -> Result<Vec<ChunkRecord>, StoreError> {
    let (filter, order) = match from {
        None => ("AND $2::timestamptz IS NULL AND $3::uuid IS NULL", "DESC"),
        Some(ChunkCursor::After { .. }) => ("AND (created_at, id) < ($2, $3)", "DESC"),
        Some(ChunkCursor::Before { .. }) => ("AND (created_at, id) > ($2, $3)", "ASC"),
    };
    let sql = format!(
        "SELECT {CHUNK_COLUMNS} FROM chunks WHERE user_id = $1 {filter} \
         ORDER BY created_at {order}, id {order} LIMIT $4"
    );
    let (at, id) = match from {
        Some(ChunkCursor::After { created_at, id } | ChunkCursor::Before { created_at, id }) => {
            (Some(stored(created_at)), Some(id))
        }
        None => (None, None),
    };
    let mut chunks = sqlx::query(&sql)
        .bind(user.0)
        .bind(at)
        .bind(id)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?
        .iter()
        .map(chunk_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    if matches!(from, Some(ChunkCursor::Before { .. })) {
        chunks.reverse();
    }
    Ok(chunks)
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

/// Fails with `Conflict(TrackingId)` (index `chunks_tracking_key`, see `map_err`), and with
/// `LimitReached` when the chunk would take the user past `limits` (counted under the
/// owner's row lock, like files).
pub(crate) async fn insert_chunk(
    conn: &mut PgConnection,
    chunk: &ChunkRecord,
    limits: &ContentLimits,
) -> Result<(), StoreError> {
    lock_user(&mut *conn, chunk.user_id).await?;
    let used = content_usage(&mut *conn, chunk.user_id, None).await?;
    if !limits.admit_chunk(&used, chunk) {
        return Err(StoreError::LimitReached);
    }
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

#[async_trait]
impl ContentStore for PostgresStore {
    async fn replace_avatar(
        &self,
        file: &FileRecord,
        change: &ProfileChange,
        limits: &ContentLimits,
    ) -> Result<Option<FileId>, StoreError> {
        let mut tx = self.begin().await?;
        let owner = file.owner_id.0;
        // Same answer as store-sqlite for a missing owner: an error, so the caller cleans up
        // the stored bytes.
        let row = sqlx::query(
            "SELECT profile::text AS profile, avatar_file_id FROM users WHERE id = $1 \
             FOR NO KEY UPDATE",
        )
        .bind(owner)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?
        .ok_or_else(|| StoreError::Backend("avatar owner does not exist".into()))?;
        let profile: String = row.try_get("profile").map_err(backend)?;
        let previous: Option<Uuid> = row.try_get("avatar_file_id").map_err(backend)?;
        let profile: Profile = serde_json::from_str(&profile).map_err(backend)?;
        let profile = serde_json::to_string(&change.apply(&profile)).map_err(backend)?;
        let at = stored(file.created_at);
        insert_file_within(&mut tx, file, limits, previous.map(FileId)).await?;
        sqlx::query(
            "UPDATE users SET profile = $1::jsonb, avatar_file_id = $2, updated_at = $3 \
             WHERE id = $4",
        )
        .bind(profile)
        .bind(file.id.0)
        .bind(at)
        .bind(owner)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if let Some(old) = previous {
            sqlx::query("DELETE FROM files WHERE id = $1")
                .bind(old)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(previous.map(FileId))
    }

    async fn file(&self, id: FileId) -> Result<Option<FileRecord>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        file(&mut conn, id).await
    }

    async fn insert_file(
        &self,
        file: &FileRecord,
        limits: &ContentLimits,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_file_within(&mut tx, file, limits, None).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn content_usage(&self, owner: UserId) -> Result<ContentUsage, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        content_usage(&mut conn, owner, None).await
    }

    async fn list_files(&self, owner: UserId) -> Result<Vec<FileRecord>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        list_files(&mut conn, owner).await
    }

    async fn list_files_page(
        &self,
        owner: UserId,
        from: Option<FileCursor>,
        limit: u32,
    ) -> Result<Vec<FileRecord>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        list_files_page(&mut conn, owner, from, limit).await
    }

    async fn delete_file(&self, owner: UserId, id: FileId) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let deleted = delete_file(&mut tx, owner, id).await?;
        if deleted {
            tx.commit().await.map_err(map_err)?;
        } else {
            tx.rollback().await.map_err(map_err)?;
        }
        Ok(deleted)
    }

    async fn insert_chunk(
        &self,
        chunk: &ChunkRecord,
        limits: &ContentLimits,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_chunk(&mut tx, chunk, limits).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn list_chunks(
        &self,
        user: UserId,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<ChunkRecord>, u64), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        list_chunks(&mut conn, user, offset, limit).await
    }

    async fn list_chunks_page(
        &self,
        user: UserId,
        from: Option<ChunkCursor>,
        limit: u32,
    ) -> Result<Vec<ChunkRecord>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        list_chunks_page(&mut conn, user, from, limit).await
    }

    async fn delete_chunk(&self, user: UserId, id: Uuid) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        delete_chunk(&mut conn, user, id).await
    }
}
