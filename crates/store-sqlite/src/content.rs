//! `ContentStore` on SQLite: file records (the bytes live in the `FileStore`), the avatar
//! among them, and chunks. The SQL is free functions over a connection, so the impl at the end
//! decides the transaction. Size limits,
//! quotas and who may touch what are the core's business; this module only sums and counts.

use accounts::domain::{Profile, ProfileChange};
use accounts::files::FileId;
use accounts::store::{
    ChunkCursor, ChunkRecord, ContentLimits, ContentStore, ContentUsage, FileCursor, FileRecord,
    StoreError, RECORD_OVERHEAD_BYTES,
};
use accounts::UserId;
use async_trait::async_trait;
use chrono::Utc;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use crate::{backend, map_err, millis, time, uuid, SqliteStore};

/// The columns `file_from_row` reads.
pub(crate) const FILE_COLUMNS: &str =
    "id, owner_id, purpose, content_type, size, name, link, metadata, tag_set, created_at";

const CHUNK_COLUMNS: &str = "id, user_id, content, html, link, metadata, tag_set, weight, \
     tracking_id, file_id, created_at, updated_at";

/// JSON kept as text; `None` stays SQL NULL.
fn json_text(value: Option<&serde_json::Value>) -> Result<Option<String>, StoreError> {
    value
        .map(|v| serde_json::to_string(v).map_err(backend))
        .transpose()
}

fn json_value(text: Option<String>) -> Result<Option<serde_json::Value>, StoreError> {
    text.map(|t| serde_json::from_str(&t).map_err(backend))
        .transpose()
}

pub(crate) fn file_from_row(row: &SqliteRow) -> Result<FileRecord, StoreError> {
    let id: String = row.try_get("id").map_err(backend)?;
    let owner: String = row.try_get("owner_id").map_err(backend)?;
    let size: i64 = row.try_get("size").map_err(backend)?;
    Ok(FileRecord {
        id: FileId(uuid(&id)?),
        owner_id: UserId(uuid(&owner)?),
        purpose: row.try_get("purpose").map_err(backend)?,
        content_type: row.try_get("content_type").map_err(backend)?,
        size: u64::try_from(size).map_err(backend)?,
        name: row.try_get("name").map_err(backend)?,
        link: row.try_get("link").map_err(backend)?,
        metadata: json_value(row.try_get("metadata").map_err(backend)?)?,
        tag_set: row.try_get("tag_set").map_err(backend)?,
        created_at: time(row.try_get("created_at").map_err(backend)?)?,
    })
}

/// Writes the record as it is (part of a transaction); quotas are checked by the caller.
pub(crate) async fn insert_file_row(
    conn: &mut SqliteConnection,
    file: &FileRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO files (id, owner_id, purpose, content_type, size, name, link, metadata, \
         tag_set, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(file.id.to_string())
    .bind(file.owner_id.to_string())
    .bind(&file.purpose)
    .bind(&file.content_type)
    .bind(i64::try_from(file.size).map_err(backend)?)
    .bind(&file.name)
    .bind(file.link.as_deref())
    .bind(json_text(file.metadata.as_ref())?)
    .bind(file.tag_set.as_deref())
    .bind(millis(file.created_at))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn file(
    conn: &mut SqliteConnection,
    id: FileId,
) -> Result<Option<FileRecord>, StoreError> {
    let sql = format!("SELECT {FILE_COLUMNS} FROM files WHERE id = ?");
    sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?
        .map(|row| file_from_row(&row))
        .transpose()
}

/// Bytes in SQLite's text columns, as the quota counts them (`NULL` counts nothing).
macro_rules! bytes_of {
    ($column:literal) => {
        concat!("COALESCE(LENGTH(CAST(", $column, " AS BLOB)), 0)")
    };
}

/// What the owner stores now (files and their records, chunks), leaving out the file
/// `except` (the avatar being replaced); counted as `ContentUsage` documents.
pub(crate) async fn content_usage(
    conn: &mut SqliteConnection,
    owner: UserId,
    except: Option<FileId>,
) -> Result<ContentUsage, StoreError> {
    let sql = concat!(
        "SELECT (SELECT COUNT(*) FROM files WHERE owner_id = ?1 AND id <> ?2) AS files, ",
        "(SELECT COALESCE(SUM(size + ",
        bytes_of!("name"),
        " + ",
        bytes_of!("purpose"),
        " + ",
        bytes_of!("content_type"),
        " + ",
        bytes_of!("link"),
        " + ",
        bytes_of!("metadata"),
        " + ",
        bytes_of!("tag_set"),
        " + ?3), 0) FROM files WHERE owner_id = ?1 AND id <> ?2) AS file_bytes, ",
        "(SELECT COUNT(*) FROM chunks WHERE user_id = ?1) AS chunks, ",
        "(SELECT COALESCE(SUM(",
        bytes_of!("content"),
        " + ",
        bytes_of!("html"),
        " + ",
        bytes_of!("link"),
        " + ",
        bytes_of!("metadata"),
        " + ",
        bytes_of!("tag_set"),
        " + ",
        bytes_of!("tracking_id"),
        " + ?3), 0) FROM chunks WHERE user_id = ?1) AS chunk_bytes"
    );
    let row = sqlx::query(sql)
        .bind(owner.to_string())
        .bind(except.map(|f| f.to_string()).unwrap_or_default())
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
/// `replacing` is left out of the count (the avatar a new one replaces). Part of a write
/// transaction, so parallel uploads queue and cannot both pass.
pub(crate) async fn insert_file_within(
    conn: &mut SqliteConnection,
    file: &FileRecord,
    limits: &ContentLimits,
    replacing: Option<FileId>,
) -> Result<(), StoreError> {
    let used = content_usage(&mut *conn, file.owner_id, replacing).await?;
    if !limits.admit_file(&used, file) {
        return Err(StoreError::LimitReached);
    }
    insert_file_row(conn, file).await
}

/// One page of the owner's files, newest first (see `Store::list_files_page`).
pub(crate) async fn list_files_page(
    conn: &mut SqliteConnection,
    owner: UserId,
    from: Option<FileCursor>,
    limit: u32,
) -> Result<Vec<FileRecord>, StoreError> {
    let (filter, order) = match from {
        None => ("", "DESC"),
        Some(FileCursor::After { .. }) => (
            "AND (created_at < ?2 OR (created_at = ?2 AND id < ?3))",
            "DESC",
        ),
        Some(FileCursor::Before { .. }) => (
            "AND (created_at > ?2 OR (created_at = ?2 AND id > ?3))",
            "ASC",
        ),
    };
    let sql = format!(
        "SELECT {FILE_COLUMNS} FROM files WHERE owner_id = ?1 {filter} \
         ORDER BY created_at {order}, id {order} LIMIT ?4"
    );
    let (at, id) = match from {
        Some(FileCursor::After { created_at, id } | FileCursor::Before { created_at, id }) => {
            (millis(created_at), id.to_string())
        }
        None => (0, String::new()),
    };
    let mut files = sqlx::query(&sql)
        .bind(owner.to_string())
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

pub(crate) async fn list_files(
    conn: &mut SqliteConnection,
    owner: UserId,
) -> Result<Vec<FileRecord>, StoreError> {
    let sql = format!(
        "SELECT {FILE_COLUMNS} FROM files WHERE owner_id = ? ORDER BY created_at DESC, id DESC"
    );
    sqlx::query(&sql)
        .bind(owner.to_string())
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?
        .iter()
        .map(file_from_row)
        .collect()
}

/// Deletes the record; when it was the owner's avatar, the avatar link and the `picture`
/// claim go with it (part of a transaction). Chunks that pointed at the file keep their
/// text (`ON DELETE SET NULL`).
pub(crate) async fn delete_file(
    conn: &mut SqliteConnection,
    owner: UserId,
    id: FileId,
) -> Result<bool, StoreError> {
    let owner = owner.to_string();
    let id = id.to_string();
    let deleted = sqlx::query("DELETE FROM files WHERE id = ? AND owner_id = ?")
        .bind(&id)
        .bind(&owner)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?
        .rows_affected();
    if deleted == 0 {
        return Ok(false);
    }
    let profile: Option<String> =
        sqlx::query_scalar("SELECT profile FROM users WHERE id = ? AND avatar_file_id = ?")
            .bind(&owner)
            .bind(&id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(map_err)?;
    if let Some(profile) = profile {
        let mut profile: Profile = serde_json::from_str(&profile).map_err(backend)?;
        profile.picture = None;
        // The trait passes no clock here; the time only moves forward.
        sqlx::query(
            "UPDATE users SET profile = ?, avatar_file_id = NULL, \
             updated_at = MAX(updated_at, ?) WHERE id = ?",
        )
        .bind(serde_json::to_string(&profile).map_err(backend)?)
        .bind(millis(Utc::now()))
        .bind(&owner)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    Ok(true)
}

fn chunk_from_row(row: &SqliteRow) -> Result<ChunkRecord, StoreError> {
    let id: String = row.try_get("id").map_err(backend)?;
    let user: String = row.try_get("user_id").map_err(backend)?;
    let file: Option<String> = row.try_get("file_id").map_err(backend)?;
    Ok(ChunkRecord {
        id: uuid(&id)?,
        user_id: UserId(uuid(&user)?),
        content: row.try_get("content").map_err(backend)?,
        html: row.try_get("html").map_err(backend)?,
        link: row.try_get("link").map_err(backend)?,
        metadata: json_value(row.try_get("metadata").map_err(backend)?)?,
        tag_set: row.try_get("tag_set").map_err(backend)?,
        weight: row.try_get("weight").map_err(backend)?,
        tracking_id: row.try_get("tracking_id").map_err(backend)?,
        file_id: file.map(|f| uuid(&f).map(FileId)).transpose()?,
        created_at: time(row.try_get("created_at").map_err(backend)?)?,
        updated_at: time(row.try_get("updated_at").map_err(backend)?)?,
    })
}

/// A taken tracking id fails with `Conflict(TrackingId)` (see `map_err`); a chunk that would
/// take the user past `limits` with `LimitReached`. Part of a write transaction.
pub(crate) async fn insert_chunk(
    conn: &mut SqliteConnection,
    chunk: &ChunkRecord,
    limits: &ContentLimits,
) -> Result<(), StoreError> {
    let used = content_usage(&mut *conn, chunk.user_id, None).await?;
    if !limits.admit_chunk(&used, chunk) {
        return Err(StoreError::LimitReached);
    }
    sqlx::query(
        "INSERT INTO chunks (id, user_id, content, html, link, metadata, tag_set, weight, \
         tracking_id, file_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(chunk.id.to_string())
    .bind(chunk.user_id.to_string())
    .bind(&chunk.content)
    .bind(chunk.html.as_deref())
    .bind(chunk.link.as_deref())
    .bind(json_text(chunk.metadata.as_ref())?)
    .bind(chunk.tag_set.as_deref())
    .bind(chunk.weight)
    .bind(chunk.tracking_id.as_deref())
    .bind(chunk.file_id.map(|f| f.to_string()))
    .bind(millis(chunk.created_at))
    .bind(millis(chunk.updated_at))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// One page and the total; run in one (read) transaction so both see the same snapshot.
pub(crate) async fn list_chunks(
    conn: &mut SqliteConnection,
    user: UserId,
    offset: u64,
    limit: u32,
) -> Result<(Vec<ChunkRecord>, u64), StoreError> {
    let user = user.to_string();
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chunks WHERE user_id = ?")
        .bind(&user)
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)?;
    let sql = format!(
        "SELECT {CHUNK_COLUMNS} FROM chunks WHERE user_id = ? \
         ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
    );
    let chunks = sqlx::query(&sql)
        .bind(&user)
        .bind(i64::from(limit))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?
        .iter()
        .map(chunk_from_row)
        .collect::<Result<_, _>>()?;
    Ok((chunks, u64::try_from(total).map_err(backend)?))
}

/// One page of the user's chunks, newest first (see `Store::list_chunks_page`).
pub(crate) async fn list_chunks_page(
    conn: &mut SqliteConnection,
    user: UserId,
    from: Option<ChunkCursor>,
    limit: u32,
) -> Result<Vec<ChunkRecord>, StoreError> {
    let (filter, order) = match from {
        None => ("", "DESC"),
        Some(ChunkCursor::After { .. }) => (
            "AND (created_at < ?2 OR (created_at = ?2 AND id < ?3))",
            "DESC",
        ),
        Some(ChunkCursor::Before { .. }) => (
            "AND (created_at > ?2 OR (created_at = ?2 AND id > ?3))",
            "ASC",
        ),
    };
    let sql = format!(
        "SELECT {CHUNK_COLUMNS} FROM chunks WHERE user_id = ?1 {filter} \
         ORDER BY created_at {order}, id {order} LIMIT ?4"
    );
    let (at, id) = match from {
        Some(ChunkCursor::After { created_at, id } | ChunkCursor::Before { created_at, id }) => {
            (millis(created_at), id.to_string())
        }
        None => (0, String::new()),
    };
    let mut chunks = sqlx::query(&sql)
        .bind(user.to_string())
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

pub(crate) async fn delete_chunk(
    conn: &mut SqliteConnection,
    user: UserId,
    id: Uuid,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM chunks WHERE id = ? AND user_id = ?")
        .bind(id.to_string())
        .bind(user.to_string())
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

#[async_trait]
impl ContentStore for SqliteStore {
    async fn replace_avatar(
        &self,
        file: &FileRecord,
        change: &ProfileChange,
        limits: &ContentLimits,
    ) -> Result<Option<FileId>, StoreError> {
        let mut tx = self.begin_write().await?;
        let owner = file.owner_id.to_string();
        let row = sqlx::query("SELECT profile, avatar_file_id FROM users WHERE id = ?")
            .bind(&owner)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?
            .ok_or_else(|| StoreError::Backend("avatar owner does not exist".into()))?;
        let profile: String = row.try_get("profile").map_err(backend)?;
        let previous: Option<String> = row.try_get("avatar_file_id").map_err(backend)?;
        let profile: Profile = serde_json::from_str(&profile).map_err(backend)?;
        let profile = serde_json::to_string(&change.apply(&profile)).map_err(backend)?;
        let replacing = previous.as_deref().map(uuid).transpose()?.map(FileId);
        insert_file_within(&mut tx, file, limits, replacing).await?;
        sqlx::query(
            "UPDATE users SET profile = ?, avatar_file_id = ?, updated_at = ? WHERE id = ?",
        )
        .bind(profile)
        .bind(file.id.to_string())
        .bind(millis(file.created_at))
        .bind(&owner)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if let Some(old) = &previous {
            sqlx::query("DELETE FROM files WHERE id = ?")
                .bind(old)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        previous.map(|p| uuid(&p).map(FileId)).transpose()
    }

    async fn file(&self, id: FileId) -> Result<Option<FileRecord>, StoreError> {
        file(&mut *self.conn().await?, id).await
    }

    async fn insert_file(
        &self,
        file: &FileRecord,
        limits: &ContentLimits,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_file_within(&mut tx, file, limits, None).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn content_usage(&self, owner: UserId) -> Result<ContentUsage, StoreError> {
        content_usage(&mut *self.conn().await?, owner, None).await
    }

    async fn list_files(&self, owner: UserId) -> Result<Vec<FileRecord>, StoreError> {
        list_files(&mut *self.conn().await?, owner).await
    }

    async fn list_files_page(
        &self,
        owner: UserId,
        from: Option<FileCursor>,
        limit: u32,
    ) -> Result<Vec<FileRecord>, StoreError> {
        list_files_page(&mut *self.conn().await?, owner, from, limit).await
    }

    async fn delete_file(&self, owner: UserId, id: FileId) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = delete_file(&mut tx, owner, id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(done)
    }

    async fn insert_chunk(
        &self,
        chunk: &ChunkRecord,
        limits: &ContentLimits,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_chunk(&mut tx, chunk, limits).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn list_chunks(
        &self,
        user: UserId,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<ChunkRecord>, u64), StoreError> {
        // A deferred (read) transaction: the page and the total see one snapshot.
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let page = list_chunks(&mut tx, user, offset, limit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(page)
    }

    async fn list_chunks_page(
        &self,
        user: UserId,
        from: Option<ChunkCursor>,
        limit: u32,
    ) -> Result<Vec<ChunkRecord>, StoreError> {
        list_chunks_page(&mut *self.conn().await?, user, from, limit).await
    }

    async fn delete_chunk(&self, user: UserId, id: Uuid) -> Result<bool, StoreError> {
        delete_chunk(&mut *self.conn().await?, user, id).await
    }
}
